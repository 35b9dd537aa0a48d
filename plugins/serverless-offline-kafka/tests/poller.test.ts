import { afterEach, describe, expect, it } from 'vitest';
import type { LambdaKafkaEvent } from '../src/event.js';
import { compileFilters } from '../src/filter.js';
import { Poller } from '../src/poller.js';
import {
  b64,
  deferred,
  fakeHost,
  message,
  messages,
  offsets,
  offsetsOf,
  SETTLE_MS,
  testMapping,
  until,
  within,
} from './support.js';

const PARTITION = 3;
const PROVISIONED = { provisioned: true } as const;

/** A partial batch response naming the records at `failed` offsets of this test's partition. */
const failures = (...failed: number[]) => ({
  batchItemFailures: failed.map((offset) => ({
    itemIdentifier: { partition: `notifications-${PARTITION}`, offset },
  })),
});

/** A poller fed with one partition's records, as most tests need. */
const onePartition = (poller: InstanceType<typeof Poller>) => ({
  poller,
  enqueue: (messages: Parameters<InstanceType<typeof Poller>['enqueue']>[1]) =>
    poller.enqueue(PARTITION, messages),
  revoke: () => poller.revoke(PARTITION),
  stop: () => poller.stop(),
  get done() {
    return poller.done;
  },
});

/** Every poller a test starts is stopped afterwards, so that none outlives its test. */
const started: InstanceType<typeof Poller>[] = [];
const start = (host: ReturnType<typeof fakeHost>['host']) => {
  const poller = new Poller(host);
  started.push(poller);
  return onePartition(poller);
};

afterEach(async () => {
  for (const poller of started.splice(0)) {
    poller.stop();
    await within(poller.done, SETTLE_MS, 'a poller stopping after its test');
  }
});

describe('Poller', () => {
  describe('batching', () => {
    it('waits for the batching window, then invokes once with every queued record', async () => {
      const windowMs = 40;
      const fake = fakeHost({ mapping: testMapping({ windowMs }) });
      const poller = start(fake.host);
      const enqueuedAt = Date.now();
      poller.enqueue(messages(0, 2));
      poller.enqueue(messages(3, 4));
      await until(() => fake.commits.length >= 1, 'the first commit');
      expect(fake.invocations).toHaveLength(1);
      expect(fake.invocations.map(offsetsOf)).toEqual([[0, 1, 2, 3, 4]]);
      // Timers may fire a millisecond early against Date.now().
      expect(fake.invokedAt[0]).toBeGreaterThanOrEqual(enqueuedAt + windowMs - 2);
    });

    it('invokes at once when BatchSize records are ready, without waiting for the window', async () => {
      const fake = fakeHost({ mapping: testMapping({ windowMs: 60_000, batchSize: 3 }) });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 3));
      await until(() => fake.commits.length >= 1, 'the full batch');
      expect(fake.invocations.map(offsetsOf)).toEqual([[0, 1, 2]]);
      // The fourth record waits for its window (a minute), so nothing else is invoked.
      expect(fake.history).toEqual(['invoke 0,1,2', `commit ${PARTITION}@3`]);
    });

    it('splits the queue into consecutive batches of BatchSize in offset order', async () => {
      const fake = fakeHost({ mapping: testMapping({ batchSize: 2 }) });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 4));
      await until(() => fake.commits.length >= 3, 'three commits');
      expect(fake.history).toEqual([
        'invoke 0,1',
        `commit ${PARTITION}@2`,
        'invoke 2,3',
        `commit ${PARTITION}@4`,
        'invoke 4',
        `commit ${PARTITION}@5`,
      ]);
    });

    it('builds the Lambda event of the mapping’s source for this partition', async () => {
      const fake = fakeHost();
      const poller = start(fake.host);
      poller.enqueue([message(7, { key: null, value: null, headers: { lang: 'ë' } })]);
      await until(() => fake.invocations.length === 1, 'an invocation');
      expect(fake.invocations[0]).toEqual({
        eventSource: 'aws:kafka',
        eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/demo/abc-1',
        bootstrapServers: '127.0.0.1:9092',
        records: {
          [`notifications-${PARTITION}`]: [
            {
              topic: 'notifications',
              partition: PARTITION,
              offset: 7,
              timestamp: 1_764_000_000_007,
              timestampType: 'CREATE_TIME',
              value: null,
              headers: [{ lang: [-61, -85] }],
            },
          ],
        },
      });
    });

    it('ignores records at or below the last enqueued offset', async () => {
      const fake = fakeHost({ mapping: testMapping({ windowMs: 20 }) });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 2));
      poller.enqueue(messages(1, 3));
      await until(() => fake.commits.length >= 1, 'the first commit');
      poller.enqueue(messages(2, 4));
      await until(() => fake.commits.length >= 2, 'the second commit');
      expect(fake.invocations.map(offsetsOf)).toEqual([[0, 1, 2, 3], [4]]);
      expect(fake.commits).toEqual([4n, 5n]);
    });

    it('commits filtered-out records without invoking when none is to be delivered', async () => {
      const filter = compileFilters([{ value: { kind: ['follow'] } }]);
      const fake = fakeHost({ mapping: testMapping({ filter }) });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 2));
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.invocations).toEqual([]);
      expect(fake.commits).toEqual([3n]);
    });

    it('commits past records Lambda never sees (transaction markers) after the records before them', async () => {
      const fake = fakeHost({ mapping: testMapping({ windowMs: 20 }) });
      const poller = start(fake.host);
      // Records 0-2 and a commit marker at 3; then a fetch of only markers (an aborted
      // transaction's records and its marker, 4-6), which kafkajs never hands to eachBatch.
      poller.poller.enqueue(PARTITION, messages(0, 2), '4', 3n);
      await until(() => fake.commits.length >= 1, 'a commit');
      poller.poller.enqueue(PARTITION, [], '7', 6n);
      await until(() => fake.commits.length >= 2, 'the second commit');
      expect(fake.invocations.map(offsetsOf)).toEqual([[0, 1, 2]]);
      expect(fake.commits).toEqual([4n, 7n]);
      expect(poller.poller.lag()).toEqual([{ partition: PARTITION, lag: 0 }]);
    });

    it('delivers only the records that match a filter and commits past the others', async () => {
      const filter = compileFilters([{ value: { kind: ['follow'] } }]);
      const follow = (offset: number) =>
        message(offset, { value: Buffer.from(JSON.stringify({ kind: 'follow', n: offset })) });
      const fake = fakeHost({ mapping: testMapping({ filter, windowMs: 20 }) });
      const poller = start(fake.host);
      poller.enqueue([message(0), follow(1), message(2), follow(3), message(4)]);
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.invocations.map(offsetsOf)).toEqual([[1, 3]]);
      expect(fake.commits).toEqual([5n]);
    });

    it('gives up on a record over 6 MB (MaximumPayloadSizeExceeded) after delivering the ones before it, and says so', async () => {
      const huge = Buffer.alloc(5 * 1024 * 1024, 1);
      const fake = fakeHost({ mapping: testMapping({ windowMs: 20 }) });
      const poller = start(fake.host);
      poller.enqueue([message(0), message(1, { value: huge }), message(2)]);
      await until(() => fake.commits.length >= 3, 'three commits');
      expect(fake.history).toEqual([
        'invoke 0',
        `commit ${PARTITION}@1`,
        'giveUp 1',
        `commit ${PARTITION}@2`,
        'invoke 2',
        `commit ${PARTITION}@3`,
      ]);
      expect(fake.logged).toContainEqual({
        level: 'error',
        message: expect.stringMatching(/offset 1 makes the event larger than 6 MB/),
      });
    });

    it('pauses fetching while 20,000 records wait and resumes once the queue drains', async () => {
      const fake = fakeHost({ mapping: testMapping({ batchSize: 10_000 }) });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 19_999));
      expect(fake.pauses).toEqual([PARTITION]);
      await until(() => fake.resumes.length === 1, 'resume', 10_000);
      expect(fake.resumes).toEqual([PARTITION]);
      expect(fake.commits).toEqual([10_000n, 20_000n]);
    });
  });

  describe('commits', () => {
    it('commits the last offset + 1 only after the invocation succeeds', async () => {
      const inFlight = deferred();
      const fake = fakeHost({ respond: () => inFlight.promise });
      const poller = start(fake.host);
      poller.enqueue(messages(10, 12));
      await until(() => fake.invocations.length === 1, 'an invocation');
      expect(fake.commits).toEqual([]);
      inFlight.resolve(null);
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.commits).toEqual([13n]);
    });

    it('retries a failed batch whole, with the same records, and commits only after success', async () => {
      const fake = fakeHost({
        respond: (_, call) => {
          if (call < 3) throw new Error(`boom ${call}`);
          return null;
        },
      });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 2));
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.history).toEqual([
        'invoke 0,1,2',
        'invoke 0,1,2',
        'invoke 0,1,2',
        `commit ${PARTITION}@3`,
      ]);
      expect(fake.invocations[1]).toEqual(fake.invocations[0]);
      expect(fake.logged).toContainEqual({
        level: 'warning',
        message: expect.stringMatching(/failed: boom 1/),
      });
    });

    it('passes the attempt number to retryDelayMs', async () => {
      const attempts: number[] = [];
      const fake = fakeHost({
        respond: (_, call) => {
          if (call < 4) throw new Error('boom');
          return null;
        },
        retryDelayMs: (attempt) => {
          attempts.push(attempt);
          return 1;
        },
      });
      start(fake.host).enqueue(messages(0, 0));
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(attempts).toEqual([1, 2, 3]);
    });

    it('keeps later records back until the failed batch succeeds', async () => {
      const fake = fakeHost({
        mapping: testMapping({ batchSize: 2 }),
        respond: (_, call) => {
          if (call === 1) throw new Error('boom');
          return null;
        },
        // New records arrive during the backoff, waking the poller.
        retryDelayMs: () => {
          setTimeout(() => poller.enqueue(messages(2, 3)), 0);
          return 20;
        },
      });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 1));
      await until(() => fake.commits.length >= 2, 'two commits');
      expect(fake.history).toEqual([
        'invoke 0,1',
        'invoke 0,1',
        `commit ${PARTITION}@2`,
        'invoke 2,3',
        `commit ${PARTITION}@4`,
      ]);
    });

    it('ignores a partial batch response unless ReportBatchItemFailures is on', async () => {
      const fake = fakeHost({ respond: () => failures(1) });
      start(fake.host).enqueue(messages(0, 2));
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.invocations).toHaveLength(1);
      expect(fake.commits).toEqual([3n]);
    });

    it('logs a commit that fails and carries on', async () => {
      const fake = fakeHost({ mapping: testMapping({ batchSize: 1 }) });
      let commitCalls = 0;
      fake.host.commit = async () => {
        commitCalls += 1;
        if (commitCalls === 1) throw new Error('coordinator moved');
      };
      start(fake.host).enqueue(messages(0, 1));
      await until(() => commitCalls === 2, 'two commit attempts');
      expect(fake.invocations.map(offsetsOf)).toEqual([[0], [1]]);
      expect(fake.logged).toContainEqual({
        level: 'warning',
        message: expect.stringMatching(/could not commit offset 1 .*coordinator moved/),
      });
    });
  });

  describe('stop and revoke', () => {
    it('ends during the retry backoff without committing', async () => {
      let backingOff = false;
      const fake = fakeHost({
        respond: () => {
          throw new Error('boom');
        },
        retryDelayMs: () => {
          backingOff = true;
          return 60_000;
        },
      });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 2));
      await until(() => backingOff, 'the retry backoff');
      poller.stop();
      await within(poller.done, SETTLE_MS, 'the stopped poller');
      expect(fake.invocations).toHaveLength(1);
      expect(fake.commits).toEqual([]);
    });

    it('lets an invocation in flight finish and commit, then takes no new batch', async () => {
      const inFlight = deferred();
      const fake = fakeHost({
        mapping: testMapping({ batchSize: 2 }),
        respond: () => inFlight.promise,
      });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 3));
      await until(() => fake.invocations.length === 1, 'an invocation');
      poller.stop();
      inFlight.resolve(null);
      await within(poller.done, SETTLE_MS, 'the stopped poller');
      expect(fake.history).toEqual(['invoke 0,1', `commit ${PARTITION}@2`]);
    });

    it('drops the queue on revoke and never commits again, even for a batch in flight', async () => {
      const inFlight = deferred();
      const fake = fakeHost({
        mapping: testMapping({ batchSize: 2 }),
        respond: () => inFlight.promise,
      });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 3));
      await until(() => fake.invocations.length === 1, 'an invocation');
      poller.revoke();
      inFlight.resolve(null);
      await within(poller.done, SETTLE_MS, 'the revoked poller');
      expect(fake.history).toEqual(['invoke 0,1']);
    });

    it('resumes a partition it paused when revoked, so that it is fetched if assigned back', async () => {
      const inFlight = deferred();
      const fake = fakeHost({
        mapping: testMapping({ batchSize: 10_000 }),
        respond: () => inFlight.promise,
      });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 19_999));
      expect(fake.pauses).toEqual([PARTITION]);
      await until(() => fake.invocations.length >= 1, 'an invocation');
      poller.revoke();
      expect(fake.resumes).toEqual([PARTITION]);
      inFlight.resolve(null);
      await within(poller.done, SETTLE_MS, 'the revoked poller');
      expect(fake.resumes).toEqual([PARTITION]);
      expect(fake.commits).toEqual([]);
    });

    it('ends at once when revoked during the batching window, invoking nothing', async () => {
      const fake = fakeHost({ mapping: testMapping({ windowMs: 60_000 }) });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 3));
      poller.revoke();
      await within(poller.done, SETTLE_MS, 'the revoked poller');
      expect(fake.history).toEqual([]);
    });
  });

  describe('provisioned mode', () => {
    it('gives up after MaximumRetryAttempts retries, then commits past the records', async () => {
      const fake = fakeHost({
        mapping: testMapping({ errorHandling: { ...PROVISIONED, maxRetries: 2 } }),
        respond: () => {
          throw new Error('boom');
        },
      });
      const poller = start(fake.host);
      poller.enqueue(messages(0, 2));
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.history).toEqual([
        'invoke 0,1,2',
        'invoke 0,1,2',
        'invoke 0,1,2',
        'giveUp 0,1,2',
        `commit ${PARTITION}@3`,
      ]);
      expect(fake.givenUp).toEqual([
        {
          records: expect.any(Array),
          condition: 'RetriesExhausted',
          invokeCount: 3,
          error: 'boom',
        },
      ]);
      expect(offsets(fake.givenUp[0]?.records ?? [])).toEqual([0, 1, 2]);
    });

    it('gives up after the first failure with MaximumRetryAttempts 0, and carries on', async () => {
      const fake = fakeHost({
        mapping: testMapping({ batchSize: 2, errorHandling: { ...PROVISIONED, maxRetries: 0 } }),
        respond: (event) => {
          if (offsetsOf(event).includes(1)) throw new Error('poison');
          return null;
        },
      });
      start(fake.host).enqueue(messages(0, 3));
      await until(() => fake.commits.length >= 2, 'two commits');
      expect(fake.history).toEqual([
        'invoke 0,1',
        'giveUp 0,1',
        `commit ${PARTITION}@2`,
        'invoke 2,3',
        `commit ${PARTITION}@4`,
      ]);
    });

    it('retries only the failed records of a partial response, committing what came before them', async () => {
      const fake = fakeHost({
        mapping: testMapping({
          errorHandling: { ...PROVISIONED, reportBatchItemFailures: true },
        }),
        respond: (_, call) => (call === 1 ? failures(3, 2) : { batchItemFailures: [] }),
      });
      start(fake.host).enqueue(messages(0, 4));
      await until(() => fake.commits.length >= 2, 'two commits');
      expect(fake.history).toEqual([
        'invoke 0,1,2,3,4',
        `commit ${PARTITION}@2`,
        'invoke 2,3',
        `commit ${PARTITION}@5`,
      ]);
      expect(fake.logged).toContainEqual({
        level: 'warning',
        message: expect.stringMatching(/partial failure: 2 failed, notifications-3 \[2\.\.3\]/),
      });
    });

    it('fails the whole batch for a partial response naming an unknown record', async () => {
      const fake = fakeHost({
        mapping: testMapping({
          errorHandling: { ...PROVISIONED, reportBatchItemFailures: true },
        }),
        respond: (_, call) => (call === 1 ? failures(99) : null),
      });
      start(fake.host).enqueue(messages(0, 2));
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.history).toEqual(['invoke 0,1,2', 'invoke 0,1,2', `commit ${PARTITION}@3`]);
    });

    it('gives up on the failed records only when retries run out', async () => {
      const fake = fakeHost({
        mapping: testMapping({
          errorHandling: { ...PROVISIONED, reportBatchItemFailures: true, maxRetries: 1 },
        }),
        respond: () => failures(3),
      });
      start(fake.host).enqueue(messages(0, 4));
      await until(() => fake.commits.includes(5n), 'the commit past the batch');
      expect(fake.history).toEqual([
        'invoke 0,1,2,3,4',
        `commit ${PARTITION}@3`,
        'invoke 3',
        'giveUp 3',
        `commit ${PARTITION}@5`,
      ]);
      expect(fake.givenUp.map((g) => [offsets(g.records), g.condition, g.invokeCount])).toEqual([
        [[3], 'RetriesExhausted', 2],
      ]);
    });

    it('bisects a failing batch so that the good records get through', async () => {
      const fake = fakeHost({
        mapping: testMapping({ errorHandling: { ...PROVISIONED, bisect: true, maxRetries: 3 } }),
        respond: (event) => {
          if (offsetsOf(event).includes(3)) throw new Error('poison');
          return null;
        },
      });
      start(fake.host).enqueue(messages(0, 3));
      await until(() => fake.givenUp.length === 1 && fake.commits.length >= 3, 'the give-up');
      expect(fake.history).toEqual([
        'invoke 0,1,2,3',
        'invoke 0,1',
        `commit ${PARTITION}@2`,
        'invoke 2,3',
        'invoke 2',
        `commit ${PARTITION}@3`,
        'invoke 3',
        'invoke 3',
        'giveUp 3',
        `commit ${PARTITION}@4`,
      ]);
    });

    it('does not bisect without BisectBatchOnFunctionError', async () => {
      const fake = fakeHost({
        mapping: testMapping({ errorHandling: { ...PROVISIONED, maxRetries: 1 } }),
        respond: (event) => {
          if (offsetsOf(event).includes(3)) throw new Error('poison');
          return null;
        },
      });
      start(fake.host).enqueue(messages(0, 3));
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.history).toEqual([
        'invoke 0,1,2,3',
        'invoke 0,1,2,3',
        'giveUp 0,1,2,3',
        `commit ${PARTITION}@4`,
      ]);
    });

    it('gives up on records older than MaximumRecordAgeInSeconds and delivers the rest', async () => {
      const now = Date.now();
      const fake = fakeHost({
        mapping: testMapping({ errorHandling: { ...PROVISIONED, maxRecordAgeMs: 60_000 } }),
      });
      start(fake.host).enqueue([
        message(0, { timestamp: String(now - 120_000) }),
        message(1, { timestamp: String(now) }),
      ]);
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.history).toEqual(['giveUp 0', 'invoke 1', `commit ${PARTITION}@2`]);
      expect(fake.givenUp[0]).toMatchObject({ condition: 'RecordAgeExceeded', invokeCount: 0 });
    });

    it('gives up on records that grow too old while they are retried', async () => {
      let skewMs = 0;
      const fake = fakeHost({
        mapping: testMapping({ errorHandling: { ...PROVISIONED, maxRecordAgeMs: 60_000 } }),
        now: () => Date.now() + skewMs,
        respond: () => {
          throw new Error('boom');
        },
        retryDelayMs: () => {
          skewMs += 61_000;
          return 1;
        },
      });
      start(fake.host).enqueue([0, 1].map((o) => message(o, { timestamp: String(Date.now()) })));
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.history).toEqual(['invoke 0,1', 'giveUp 0,1', `commit ${PARTITION}@2`]);
      expect(fake.givenUp[0]).toMatchObject({ condition: 'RecordAgeExceeded', invokeCount: 1 });
    });

    it('retries forever in on-demand mode', async () => {
      const fake = fakeHost({
        respond: (_, call) => {
          if (call <= 12) throw new Error('boom');
          return null;
        },
      });
      start(fake.host).enqueue(messages(0, 0));
      await until(() => fake.commits.length >= 1, 'a commit');
      expect(fake.invocations).toHaveLength(13);
      expect(fake.givenUp).toEqual([]);
    });
  });

  describe('several partitions', () => {
    it('assembles one event from every partition with records waiting, BatchSize over the whole event', async () => {
      const fake = fakeHost({ mapping: testMapping({ windowMs: 30, batchSize: 5 }) });
      const poller = new Poller(fake.host);
      started.push(poller);
      poller.enqueue(0, messages(0, 1));
      poller.enqueue(1, messages(10, 12));
      poller.enqueue(2, messages(20, 21));
      await until(() => fake.invocations.length >= 2, 'two events');
      const [first, second] = fake.invocations;
      expect(Object.keys(first?.records ?? {})).toEqual(['notifications-0', 'notifications-1']);
      expect(offsetsOf(first as LambdaKafkaEvent)).toEqual([0, 1, 10, 11, 12]);
      expect(offsetsOf(second as LambdaKafkaEvent)).toEqual([20, 21]);
      await until(() => fake.commits.length >= 3, 'three commits');
      expect(fake.history.filter((h) => h.startsWith('commit')).sort()).toEqual([
        'commit 0@2',
        'commit 1@13',
        'commit 2@22',
      ]);
    });

    it('keeps one batch in flight per partition while other partitions run concurrently', async () => {
      const hold = deferred();
      const fake = fakeHost({
        mapping: testMapping({ batchSize: 2 }),
        respond: (event) => (offsetsOf(event).includes(0) ? hold.promise : null),
      });
      const poller = new Poller(fake.host);
      started.push(poller);
      poller.enqueue(0, messages(0, 3));
      await until(() => fake.invocations.length === 1, 'the held event');
      poller.enqueue(1, messages(10, 11));
      await until(() => fake.commits.includes(12n), 'partition 1 past the held one');
      // Partition 0's next batch waits for its first.
      expect(fake.invocations.map(offsetsOf)).toEqual([
        [0, 1],
        [10, 11],
      ]);
      hold.resolve(null);
      await until(() => fake.commits.includes(4n), 'partition 0');
      expect(fake.invocations.map(offsetsOf)).toEqual([
        [0, 1],
        [10, 11],
        [2, 3],
      ]);
    });

    it('after a partial response, commits a partition with nothing to retry and lets it go on while another retries', async () => {
      const retried = deferred();
      const fake = fakeHost({
        mapping: testMapping({
          windowMs: 20,
          errorHandling: { ...PROVISIONED, reportBatchItemFailures: true },
        }),
        respond: (event, call) => {
          if (call === 1)
            return {
              batchItemFailures: [{ itemIdentifier: { partition: 'notifications-0', offset: 1 } }],
            };
          return offsetsOf(event).includes(1) ? retried.promise : null;
        },
      });
      const poller = new Poller(fake.host);
      started.push(poller);
      poller.enqueue(0, messages(0, 1));
      poller.enqueue(1, messages(5, 6));
      await until(() => fake.invocations.length === 2, 'the retry of the failed record');
      expect(fake.history).toEqual(['invoke 0,1,5,6', 'commit 0@1', 'commit 1@7', 'invoke 1']);
      // Partition 1 is free while partition 0's record is retried.
      poller.enqueue(1, messages(7, 7));
      await until(() => fake.commits.includes(8n), 'partition 1 going on');
      expect(fake.invocations.map(offsetsOf).at(-1)).toEqual([7]);
      retried.resolve(null);
      await until(() => fake.commits.includes(2n), 'partition 0 past its retried record');
      expect(fake.history.filter((h) => h.startsWith('commit 1@'))).toEqual([
        'commit 1@7',
        'commit 1@8',
      ]);
    });

    it('when bisecting, lets a partition whose records were all in the good half go on', async () => {
      const poisonHeld = deferred();
      let poisonCalls = 0;
      const fake = fakeHost({
        mapping: testMapping({
          windowMs: 20,
          errorHandling: { ...PROVISIONED, bisect: true, maxRetries: 5 },
        }),
        respond: (event) => {
          if (!offsetsOf(event).includes(11)) return null;
          poisonCalls += 1;
          if (poisonCalls <= 2) throw new Error('poison');
          return poisonHeld.promise;
        },
      });
      const poller = new Poller(fake.host);
      started.push(poller);
      poller.enqueue(0, messages(0, 1));
      poller.enqueue(1, messages(10, 11));
      // [0,1,10,11] fails; [0,1] succeeds: partition 0 is done; [10,11] is retried.
      await until(() => fake.commits.includes(2n), 'partition 0 committed after the good half');
      poller.enqueue(0, messages(2, 2));
      await until(() => fake.commits.includes(3n), 'partition 0 going on');
      expect(fake.commits).not.toContain(12n);
      poisonHeld.resolve(null);
      await until(() => fake.commits.includes(12n), 'partition 1');
    });

    it('gives a partition revoked mid-batch and assigned back no second batch until the first ends', async () => {
      const hold = deferred();
      const fake = fakeHost({
        respond: (event) => (offsetsOf(event).includes(0) ? hold.promise : null),
      });
      const poller = new Poller(fake.host);
      started.push(poller);
      poller.enqueue(0, messages(0, 1));
      await until(() => fake.invocations.length === 1, 'the held batch');
      poller.revoke(0);
      // Assigned back: kafkajs fetches again from the last commit.
      poller.enqueue(0, messages(0, 2));
      // Another partition's batch shows that the poller dispatched meanwhile.
      poller.enqueue(1, messages(10, 10));
      await until(() => fake.commits.includes(11n), 'the other partition');
      expect(fake.invocations.map(offsetsOf)).toEqual([[0, 1], [10]]);
      hold.resolve(null);
      await until(() => fake.commits.includes(3n), 'the partition, from its last commit');
      expect(fake.invocations.map(offsetsOf)).toEqual([[0, 1], [10], [0, 1, 2]]);
      // The revoked batch committed nothing for the partition's new owner.
      expect(fake.commits).toEqual([11n, 3n]);
    });

    it('retries a failed multi-partition event whole, then commits each partition', async () => {
      const fake = fakeHost({
        mapping: testMapping({ windowMs: 20 }),
        respond: (_, call) => {
          if (call === 1) throw new Error('boom');
          return null;
        },
      });
      const poller = new Poller(fake.host);
      started.push(poller);
      poller.enqueue(0, messages(0, 0));
      poller.enqueue(1, messages(5, 5));
      await until(() => fake.commits.length >= 2, 'both partitions committed');
      expect(fake.invocations.map(offsetsOf)).toEqual([
        [0, 5],
        [0, 5],
      ]);
    });
  });

  it('filters with the mapping’s predicate on the Lambda record', async () => {
    const seen: (string | null)[] = [];
    const fake = fakeHost({
      mapping: testMapping({
        filter: (record) => {
          seen.push(record.value);
          return true;
        },
      }),
    });
    start(fake.host).enqueue([
      message(0, { value: Buffer.from('hi') }),
      message(1, { value: null }),
    ]);
    await until(() => fake.commits.length >= 1, 'a commit');
    expect(seen).toEqual([b64('hi'), null]);
  });
});
