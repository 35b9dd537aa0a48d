import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecords, readTopic, unique } from '../helpers/kafka.js';
import { type Offline, startOffline } from '../helpers/offline.js';
import { testKafka } from '../helpers/test-broker.js';
import { until } from '../helpers/wait.js';

/**
 * The offline Kafka event source, end to end: a real `sls offline start` of the fixture service
 * in tests/fixtures/emulator-service, consuming the real broker. The fixture's function records
 * every event it receives (a JSON line each) in RECORD_FILE.
 */

const FIXTURE = join(import.meta.dirname, '../fixtures/emulator-service');
const FIXTURE_ARN = 'arn:aws:kafka:us-east-1:123456789012:cluster/fixture/0a1b2c3d-1';
const PARTITIONS = 3;
/** The LATEST mapping has its partitions: records produced from now on reach it. */
const LATEST_JOINED = /Kafka latest: joined group \S+, partitions \[0,1,2\]/;

interface LambdaRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: string;
  key?: string;
  value: string | null;
  headers: Record<string, number[]>[];
}
interface Delivery {
  fn: string;
  at: number;
  event: {
    eventSource: string;
    eventSourceArn?: string;
    bootstrapServers: string;
    records: Record<string, LambdaRecord[]>;
  };
}

const text = (r: LambdaRecord) =>
  r.value === null ? null : Buffer.from(r.value, 'base64').toString('utf8');

describe('serverless-offline-kafka under sls offline start', () => {
  const kafka: Kafka = testKafka('emulator-e2e');
  let admin: Admin;
  let producer: Producer;
  let offline: Offline;
  const dir = mkdtempSync(join(tmpdir(), 'emulator-e2e-'));
  const recordFile = join(dir, 'deliveries.jsonl');
  const topics = {
    ordered: unique('e2e-ordered'),
    flaky: unique('e2e-flaky'),
    shared: unique('e2e-shared'),
    positions: unique('e2e-positions'),
    filtered: unique('e2e-filtered'),
    selfManaged: unique('e2e-self-managed'),
    partial: unique('e2e-partial'),
    partialDlq: unique('e2e-partial-dlq'),
    destLarge: unique('e2e-dest-large'),
    destFailing: unique('e2e-dest-failing'),
  };
  const destinationsDir = join(dir, 'destinations');
  const groupPrefix = unique('e2e-group');
  let positionTimestampS = 0;
  const env = () => ({
    RECORD_FILE: recordFile,
    GROUP_PREFIX: groupPrefix,
    TOPIC_ORDERED: topics.ordered,
    TOPIC_FLAKY: topics.flaky,
    TOPIC_SHARED: topics.shared,
    TOPIC_POSITIONS: topics.positions,
    POSITION_TIMESTAMP_S: String(positionTimestampS),
    TOPIC_FILTERED: topics.filtered,
    TOPIC_SELF_MANAGED: topics.selfManaged,
    TOPIC_PARTIAL: topics.partial,
    TOPIC_PARTIAL_DLQ: topics.partialDlq,
    TOPIC_DEST_LARGE: topics.destLarge,
    TOPIC_DEST_FAILING: topics.destFailing,
    DESTINATIONS_DIR: destinationsDir,
  });

  /** Everything the fixture received so far, for one function. */
  const deliveries = (fn: string): Delivery[] =>
    existsSync(recordFile)
      ? readFileSync(recordFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Delivery)
          .filter((d) => d.fn === `emulator-fixture-test-${fn}`)
      : [];
  const recordsOf = (d: Delivery) => Object.values(d.event.records).flat();
  const delivered = (fn: string) => deliveries(fn).flatMap(recordsOf);

  /** Produces to one partition and returns the offsets written. */
  const produce = async (
    topic: string,
    values: readonly (string | null)[],
    partition?: number,
  ): Promise<void> => {
    await producer.send({
      topic,
      acks: -1,
      messages: values.map((value, i) => ({ key: `k${i % 3}`, value, partition })),
    });
  };

  const nextSecond = async () => {
    const target = (Math.floor(Date.now() / 1000) + 1) * 1000;
    await until(() => Date.now() >= target, 2_000, 'the next second');
    return target / 1000;
  };

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        ...Object.values(topics)
          .filter((t) => t !== topics.selfManaged && t !== topics.destLarge)
          .map((topic) => ({ topic, numPartitions: PARTITIONS })),
        // Room for a record over Lambda's 6 MB event limit.
        ...[topics.selfManaged, topics.destLarge].map((topic) => ({
          topic,
          numPartitions: PARTITIONS,
          configEntries: [{ name: 'max.message.bytes', value: String(8 * 1024 * 1024) }],
        })),
      ],
    });
    producer = kafka.producer();
    await producer.connect();

    // Starting positions: 3 records, then (a second later) 2 more; the timestamp between them.
    await produce(topics.positions, ['old-1', 'old-2', 'old-3'], 0);
    positionTimestampS = await nextSecond();
    await produce(topics.positions, ['mid-1', 'mid-2'], 0);

    offline = await startOffline(FIXTURE, env(), { ready: LATEST_JOINED });
  });

  afterAll(async () => {
    await offline?.stop();
    await producer?.disconnect();
    await admin?.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replaces kafkajs’s record decoder and aborted-record filter under sls offline', () => {
    expect(offline.output()).not.toMatch(
      /decoded by kafkajs itself|filters aborted transactions itself/,
    );
  });

  it('builds the MSK event exactly in AWS shape', async () => {
    await produce(topics.ordered, ['shape'], 1);
    await until(() => delivered('ordered').some((r) => text(r) === 'shape'), 20_000, 'delivery');
    const delivery = deliveries('ordered').find((d) =>
      recordsOf(d).some((r) => text(r) === 'shape'),
    );
    expect(delivery?.event.eventSource).toBe('aws:kafka');
    expect(delivery?.event.eventSourceArn).toBe(FIXTURE_ARN);
    expect(delivery?.event.bootstrapServers).toMatch(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/);
    const [key] = Object.keys(delivery?.event.records ?? {});
    expect(key).toBe(`${topics.ordered}-1`);
    const record = recordsOf(delivery as Delivery)[0];
    expect(record).toMatchObject({
      topic: topics.ordered,
      partition: 1,
      offset: 0,
      timestampType: 'CREATE_TIME',
      key: Buffer.from('k0').toString('base64'),
      value: Buffer.from('shape').toString('base64'),
      headers: [],
    });
    expect(typeof record?.timestamp).toBe('number');
  });

  it('delivers every record once, in offset order per partition, in batches of at most batchSize', async () => {
    const values = Array.from({ length: 45 }, (_, i) => `order-${i}`);
    await producer.send({
      topic: topics.ordered,
      acks: -1,
      messages: values.map((value, i) => ({ key: `user-${i % 4}`, value })),
    });
    const isOrder = (r: LambdaRecord) => text(r)?.startsWith('order-');
    await until(
      () => delivered('ordered').filter(isOrder).length >= values.length,
      30_000,
      'all records',
    );

    const batches = deliveries('ordered')
      .map((d) => recordsOf(d).filter(isOrder))
      .filter((b) => b.length);
    for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(10);
    const all = batches.flat();
    expect(all.map(text).sort()).toEqual([...values].sort());
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = all.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      expect(new Set(offsets).size).toBe(offsets.length);
    }
    // Per key, values arrive in the order they were produced.
    for (let k = 0; k < 4; k++) {
      const mine = all.filter((r) => Buffer.from(r.key ?? '', 'base64').toString() === `user-${k}`);
      const indexes = mine.map((r) => Number(text(r)?.split('-')[1]));
      expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    }
  });

  it('waits for the batching window (1 s here) before invoking with a lone record', async () => {
    const before = deliveries('ordered').length;
    const sent = Date.now();
    await produce(topics.ordered, ['window'], 2);
    await until(() => deliveries('ordered').length > before, 20_000, 'the window to close');
    const delivery = deliveries('ordered').find((d) =>
      recordsOf(d).some((r) => text(r) === 'window'),
    );
    const waited = (delivery?.at ?? 0) - sent;
    // At least most of the window (send-to-invocation latency: bench/emulator-throughput.ts).
    expect(waited).toBeGreaterThanOrEqual(800);
  });

  it('retries a failing batch whole, blocking only its partition, until it succeeds', async () => {
    await produce(topics.flaky, ['fail:2'], 0);
    await until(() => deliveries('flaky').length >= 1, 20_000, 'the first failure');
    await produce(topics.flaky, ['after-failure'], 0);
    await produce(topics.flaky, ['other-partition'], 1);
    await until(
      () => delivered('flaky').some((r) => text(r) === 'after-failure'),
      30_000,
      'the record behind the failing one',
    );
    const attempts = deliveries('flaky').filter((d) =>
      recordsOf(d).some((r) => text(r) === 'fail:2'),
    );
    expect(attempts).toHaveLength(3);
    for (const attempt of attempts) {
      expect(recordsOf(attempt).map((r) => [r.partition, r.offset])).toEqual([[0, 0]]);
    }
    const lastAttempt = attempts[2]?.at ?? 0;
    const after = deliveries('flaky').find((d) =>
      recordsOf(d).some((r) => text(r) === 'after-failure'),
    );
    const other = deliveries('flaky').find((d) =>
      recordsOf(d).some((r) => text(r) === 'other-partition'),
    );
    expect(after?.at).toBeGreaterThanOrEqual(lastAttempt);
    // Partition 1 flowed while partition 0 was blocked.
    expect(other?.at).toBeLessThan(lastAttempt);
    expect(offline.output()).toMatch(/Kafka flaky e2e-flaky-\S+-0 \[0\] 1 record \d+ ms failed/);
  });

  it('feeds two mappings with different consumer groups every record of one topic', async () => {
    const values = Array.from({ length: 20 }, (_, i) => `shared-${i}`);
    await produce(topics.shared, values);
    await until(
      () => delivered('groupA').length >= 20 && delivered('groupB').length >= 20,
      30_000,
      'both groups',
    );
    expect(delivered('groupA').map(text).sort()).toEqual([...values].sort());
    expect(delivered('groupB').map(text).sort()).toEqual([...values].sort());
  });

  it('applies each starting position when the group has no committed offsets', async () => {
    await until(() => delivered('trimHorizon').length >= 5, 20_000, 'TRIM_HORIZON to catch up');
    await produce(topics.positions, ['new-1'], 0);
    await until(
      () =>
        delivered('trimHorizon').length >= 6 &&
        delivered('atTimestamp').length >= 3 &&
        delivered('latest').length >= 1,
      20_000,
      'every starting position',
    );
    expect(delivered('trimHorizon').map(text)).toEqual([
      'old-1',
      'old-2',
      'old-3',
      'mid-1',
      'mid-2',
      'new-1',
    ]);
    expect(delivered('atTimestamp').map(text)).toEqual(['mid-1', 'mid-2', 'new-1']);
    expect(delivered('latest').map(text)).toEqual(['new-1']);
    const mid = delivered('atTimestamp')[0];
    expect(mid?.timestamp).toBeGreaterThanOrEqual(positionTimestampS * 1000);
  });

  it('delivers only records matching a filter, and commits the others', async () => {
    await produce(
      topics.filtered,
      [
        JSON.stringify({ kind: 'urgent', n: 1 }),
        JSON.stringify({ kind: 'later' }),
        'urgent: call back',
        'nothing',
      ],
      0,
    );
    const groupId = `${groupPrefix}-filtered`;
    await until(
      async () => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topics.filtered] });
        return offsets?.partitions.find((p) => p.partition === 0)?.offset === '4';
      },
      20_000,
      'the filtered records to be committed',
    );
    // 'nothing' fits neither pattern: a plain string under the JSON one is not delivered, as
    // AWS's MSK filtering sample shows (lambda-esm-msk-filters-sam), nor a JSON value of
    // another kind.
    expect(
      delivered('filtered')
        .filter((r) => r.partition === 0)
        .map(text),
    ).toEqual([JSON.stringify({ kind: 'urgent', n: 1 }), 'urgent: call back']);
  });

  // Read committed: a transaction's records once it commits, an aborted one's never; and the
  // group's committed offset goes past the markers (Kafka's Java consumer commits its position,
  // which does), so that its lag returns to 0.
  it('delivers committed transactions only, and commits past their markers', async () => {
    const transactional = kafka.producer({
      transactionalId: unique('e2e-tx'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await transactional.connect();
    const urgent = (n: string) => ({ value: JSON.stringify({ kind: 'urgent', n }), partition: 1 });
    try {
      const committed = await transactional.transaction();
      await committed.send({
        topic: topics.filtered,
        acks: -1,
        messages: [urgent('tx-1'), urgent('tx-2')],
      });
      await committed.commit();
      const aborted = await transactional.transaction();
      await aborted.send({ topic: topics.filtered, acks: -1, messages: [urgent('aborted')] });
      await aborted.abort();
    } finally {
      await transactional.disconnect();
    }
    const [end] = (await admin.fetchTopicOffsets(topics.filtered)).filter((p) => p.partition === 1);
    // Two records and a commit marker, an aborted record and its marker.
    expect(end?.high).toBe('5');
    const groupId = `${groupPrefix}-filtered`;
    await until(
      async () => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topics.filtered] });
        return offsets?.partitions.find((p) => p.partition === 1)?.offset === end?.high;
      },
      20_000,
      'the group to commit past the markers',
    );
    expect(
      delivered('filtered')
        .filter((r) => r.partition === 1)
        .map(text),
    ).toEqual([
      JSON.stringify({ kind: 'urgent', n: 'tx-1' }),
      JSON.stringify({ kind: 'urgent', n: 'tx-2' }),
    ]);
  });

  it('delivers self-managed records, tombstones and signed header bytes in AWS shape', async () => {
    await producer.send({
      topic: topics.selfManaged,
      acks: -1,
      messages: [
        {
          key: null,
          value: 'no key',
          partition: 0,
          headers: { 'x-name': 'Zoë', 'x-bin': Buffer.from([0xff, 0x00, 0x7f, 0x80]) },
        },
        { key: 'gone', value: null, partition: 0 },
      ],
    });
    await until(() => delivered('selfManaged').length >= 2, 20_000, 'self-managed records');
    const [delivery] = deliveries('selfManaged');
    expect(delivery?.event.eventSource).toBe('SelfManagedKafka');
    expect(delivery?.event).not.toHaveProperty('eventSourceArn');
    const [noKey, tombstone] = delivered('selfManaged');
    expect(noKey).not.toHaveProperty('key');
    expect(noKey?.headers).toEqual([
      { 'x-name': [90, 111, -61, -85] },
      { 'x-bin': [-1, 0, 127, -128] },
    ]);
    expect(tombstone).toMatchObject({ key: Buffer.from('gone').toString('base64'), value: null });
    expect(tombstone).toHaveProperty('value', null);
  });

  it('never delivers a record over 6 MB, says so, and goes on with the next', async () => {
    await producer.send({
      topic: topics.selfManaged,
      acks: -1,
      messages: [
        { key: 'big', value: Buffer.alloc(6.5 * 1024 * 1024, 'x'), partition: 1 },
        { key: 'small', value: 'after the big one', partition: 1 },
      ],
    });
    await until(
      () => delivered('selfManaged').some((r) => text(r) === 'after the big one'),
      30_000,
      'the record after the oversized one',
    );
    expect(
      delivered('selfManaged')
        .filter((r) => r.partition === 1)
        .map((r) => r.offset),
    ).toEqual([1]);
    expect(offline.output()).toMatch(/record at offset 0 makes the event larger than 6 MB/);
  });

  it('in provisioned mode, honours partial batch responses, retries, and the Kafka on-failure destination', async () => {
    await produce(topics.partial, ['a', 'partial', 'c'], 0);
    const envelopes = await readRecords(kafka, topics.partialDlq, 1, 30_000);
    const attempts = deliveries('partial').map((d) => recordsOf(d).map((r) => r.offset));
    // First the whole batch, then only the failed record (kafka-retry-configurations); then
    // retries are exhausted.
    expect(attempts).toEqual([[0, 1, 2], [1]]);
    const bodies = envelopes.map((e) => JSON.parse(String(e.message.value)));
    expect(bodies.map((b) => b.requestContext.condition)).toEqual(['RetriesExhausted']);
    expect(bodies[0].requestContext.functionArn).toMatch(
      /:function:emulator-fixture-test-partial:\$LATEST$/,
    );
    expect(bodies[0].KafkaBatchInfo).toMatchObject({
      batchSize: 1,
      recordInfo: { offset: '1', timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) },
    });
    const payloadOffsets = bodies.map((b) => b.payload.records[`${topics.partial}-0`][0].offset);
    expect(payloadOffsets).toEqual([1]);
    expect(bodies[0].payload.eventSource).toBe('aws:kafka');
    const groupId = `${groupPrefix}-partial`;
    await until(
      async () => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topics.partial] });
        return offsets?.partitions.find((p) => p.partition === 0)?.offset === '3';
      },
      20_000,
      'the batch to be committed past the failed records',
    );
    // Exactly one give-up: the destination holds that one envelope and no other, read to its end
    // once the batch is committed (the envelope is written before the commit).
    expect(await readTopic(kafka, topics.partialDlq)).toHaveLength(1);
  });

  it('writes SQS, SNS and S3 on-failure destinations as files under destinationsDir', async () => {
    /** The envelopes written for one destination, parsed. */
    const written = (kind: string) => {
      const folder = join(destinationsDir, kind, 'fixture-failures');
      return existsSync(folder)
        ? readdirSync(folder)
            .sort()
            .map((file) => JSON.parse(readFileSync(join(folder, file), 'utf8')))
        : [];
    };
    // On-demand SQS: a record over 6 MB goes there (MaximumPayloadSizeExceeded), the next is
    // delivered.
    await producer.send({
      topic: topics.destLarge,
      acks: -1,
      messages: [
        { key: 'big', value: Buffer.alloc(6.5 * 1024 * 1024, 'x'), partition: 0 },
        { key: 'small', value: 'after the big one', partition: 0 },
      ],
    });
    // Provisioned SNS and S3 with no retries: a failing record goes there after one invocation
    // (alone in its batch: the whole batch would go there otherwise).
    await produce(topics.destFailing, ['fail:99'], 0);
    await until(
      () => written('sns').length === 1 && written('s3').length === 1,
      30_000,
      'the failed record in the SNS and S3 destinations',
    );
    await produce(topics.destFailing, ['fine'], 0);
    await until(
      () =>
        written('sqs').length === 1 &&
        delivered('toSqs').some((r) => text(r) === 'after the big one') &&
        delivered('toSns').some((r) => text(r) === 'fine') &&
        delivered('toS3').some((r) => text(r) === 'fine'),
      30_000,
      'the SQS destination and the records after the failed ones',
    );
    // One document per batch given up on (kafka-on-failure's SNS, SQS and S3 examples).
    const [sqs] = written('sqs');
    expect(sqs.requestContext).toMatchObject({
      condition: 'MaximumPayloadSizeExceeded',
      functionArn: expect.stringMatching(/:function:emulator-fixture-test-toSqs$/),
    });
    expect(sqs.responseContext).toBeNull();
    expect(sqs.KafkaBatchInfo).toMatchObject({
      batchSize: 1,
      eventSourceArn: FIXTURE_ARN,
      recordsInfo: {
        [`${topics.destLarge}-0`]: { firstRecordOffset: '0', lastRecordOffset: '0' },
      },
    });
    expect(sqs).not.toHaveProperty('payload');
    expect(delivered('toSqs').map((r) => r.offset)).toEqual([1]);

    const [sns] = written('sns');
    expect(sns.requestContext).toMatchObject({
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 1,
      functionArn: expect.stringMatching(/:function:emulator-fixture-test-toSns$/),
    });
    expect(sns).not.toHaveProperty('payload');

    const [s3] = written('s3');
    expect(s3.requestContext).toMatchObject({ condition: 'RetryAttemptsExhausted' });
    // "the original invocation record as an escaped JSON string"
    const [failed] = JSON.parse(s3.payload).records[`${topics.destFailing}-0`];
    expect(failed).toMatchObject({ offset: 0, value: Buffer.from('fail:99').toString('base64') });

    for (const [fn, group] of [
      ['toSns', `${groupPrefix}-to-sns`],
      ['toS3', `${groupPrefix}-to-s3`],
    ] as const) {
      expect(delivered(fn).map(text)).toEqual(['fail:99', 'fine']);
      await until(
        async () => {
          const [offsets] = await admin.fetchOffsets({
            groupId: group,
            topics: [topics.destFailing],
          });
          return offsets?.partitions.find((p) => p.partition === 0)?.offset === '2';
        },
        20_000,
        `${fn} committed past the record it gave up on`,
      );
    }
  });

  it('commits only after success: stopped mid-stream and restarted, it loses and skips nothing', async () => {
    const isSlow = (r: LambdaRecord) => text(r)?.startsWith('sleep:');
    const values = Array.from({ length: 50 }, () => 'sleep:60');
    await produce(topics.ordered, values, 0);
    await until(() => delivered('ordered').filter(isSlow).length >= 20, 60_000, 'a few batches');
    expect(await offline.stop()).toBe(0);
    expect(offline.output()).not.toMatch(/invocations still running/);
    const beforeRestart = delivered('ordered').filter(isSlow).length;
    expect(beforeRestart).toBeLessThan(values.length);

    offline = await startOffline(FIXTURE, env(), { ready: /Kafka ordered: joined group/ });
    await until(
      () => delivered('ordered').filter(isSlow).length >= values.length,
      60_000,
      'the rest',
    );
    const offsets = delivered('ordered')
      .filter(isSlow)
      .map((r) => r.offset);
    const first = Math.min(...offsets);
    expect([...offsets].sort((a, b) => a - b)).toEqual(values.map((_, i) => first + i));
  });

  it('killed (SIGKILL) mid-stream and restarted, resumes and loses nothing', async () => {
    const isMine = (r: LambdaRecord) => text(r)?.endsWith(' killed') === true;
    const values = Array.from({ length: 40 }, () => 'sleep:60 killed');
    await produce(topics.ordered, values, 1);
    await until(() => delivered('ordered').filter(isMine).length >= 10, 60_000, 'a few batches');
    offline.child.kill('SIGKILL');
    await offline.stop();
    const beforeRestart = delivered('ordered').filter(isMine).length;
    expect(beforeRestart).toBeLessThan(values.length);

    // Ready once serverless-offline listens: the plugin's poller has just begun to join.
    offline = await startOffline(FIXTURE, env(), {
      ready: /Offline \[http for lambda\] listening/,
    });
    // The killed poller never left its group: the new one gets its partitions once the old
    // session expires (6 s for this plugin's pollers, source.test.ts; kafkajs's default is 30 s).
    await until(
      () => delivered('ordered').filter(isMine).length > beforeRestart,
      60_000,
      'the restarted poller to deliver again',
    );
    await until(
      () =>
        new Set(
          delivered('ordered')
            .filter(isMine)
            .map((r) => r.offset),
        ).size >= values.length,
      60_000,
      'every record',
    );
    const offsets = [
      ...new Set(
        delivered('ordered')
          .filter(isMine)
          .map((r) => r.offset),
      ),
    ];
    const first = Math.min(...offsets);
    expect(offsets.sort((a, b) => a - b)).toEqual(values.map((_, i) => first + i));
  });
});
