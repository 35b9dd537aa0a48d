import { afterEach, describe, expect, it } from 'vitest';
import type { LambdaKafkaEvent } from '../src/event.js';
import { KafkaEventSource } from '../src/source.js';
import { deferred, message, SETTLE_MS, silent, testMapping, until, within } from './support.js';

/**
 * The event source against a fake kafkajs (the boundary it does not test): what it asks the
 * consumer (pause, resume, commit) when partitions are assigned, revoked or undecodable.
 */

type Handler = (event: { payload: unknown }) => void;
type EachBatch = (payload: {
  batch: {
    partition: number;
    highWatermark: string;
    messages: unknown[];
    lastOffset: () => string;
  };
  resolveOffset: (offset: string) => void;
}) => Promise<void>;

/** `commitErrors`: what the next commits throw, one each, before they succeed. */
const fakeKafka = (commitErrors: Error[] = []) => {
  const calls: string[] = [];
  /** What each consumer was made with. */
  const consumerConfigs: Record<string, unknown>[] = [];
  const handlers = new Map<string, Handler>();
  let eachBatch: EachBatch | undefined;
  const consumer = {
    events: { GROUP_JOIN: 'join', CRASH: 'crash', END_BATCH_PROCESS: 'end-batch' },
    on: (name: string, handler: Handler) => handlers.set(name, handler),
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async (options: { eachBatch: EachBatch }) => {
      eachBatch = options.eachBatch;
    },
    pause: (tps: { partitions?: number[] }[]) =>
      calls.push(`pause ${tps.map((t) => t.partitions ?? 'all').join()}`),
    resume: (tps: { partitions?: number[] }[]) =>
      calls.push(`resume ${tps.map((t) => t.partitions).join()}`),
    commitOffsets: async (offsets: { partition: number; offset: string }[]) => {
      const error = commitErrors.shift();
      const what = `${offsets.map((o) => `${o.partition}@${o.offset}`).join()}`;
      if (error) {
        calls.push(`refused ${what}`);
        throw error;
      }
      calls.push(`commit ${what}`);
    },
    disconnect: async () => undefined,
  };
  const kafka = {
    admin: () => ({
      connect: async () => undefined,
      listTopics: async () => ['notifications'],
      disconnect: async () => undefined,
    }),
    consumer: (config: Record<string, unknown>) => {
      consumerConfigs.push(config);
      return consumer;
    },
  };
  return {
    kafka,
    calls,
    consumerConfigs,
    join: (partitions: number[]) =>
      handlers.get('join')?.({ payload: { memberAssignment: { notifications: partitions } } }),
    /** kafkajs's eachBatch; `through`: the fetch's last offset, when markers follow the messages. */
    fetched: async (partition: number, messages: { offset: string }[], through?: number) => {
      await until(() => eachBatch !== undefined, 'the consumer to run');
      const last = String(through ?? messages[messages.length - 1]?.offset);
      await eachBatch?.({
        batch: { partition, highWatermark: '100', messages, lastOffset: () => last },
        resolveOffset: (offset) => calls.push(`resolve ${partition}@${offset}`),
      });
    },
    /** A fetch of only records Lambda never sees: kafkajs moves past it and only says so. */
    skipped: (partition: number, lastOffset: number) =>
      handlers.get('end-batch')?.({
        payload: {
          topic: 'notifications',
          partition,
          highWatermark: String(lastOffset + 1),
          batchSize: 0,
          lastOffset: String(lastOffset),
        },
      }),
  };
};

const undecodable = (offset: number) => ({
  ...message(offset),
  undecodable: `lz4 batch at offsets ${offset}..${offset} cannot be decoded`,
});

const sources: InstanceType<typeof KafkaEventSource>[] = [];
afterEach(async () => {
  for (const source of sources.splice(0)) await within(source.stop(1_000), 5_000, 'stop');
});

const startSource = (
  fake: ReturnType<typeof fakeKafka>,
  options: {
    invoke?: (event: LambdaKafkaEvent) => Promise<unknown>;
    mapping?: ReturnType<typeof testMapping>;
  } = {},
) => {
  const source = new KafkaEventSource({
    mapping: options.mapping ?? testMapping(),
    kafka: fake.kafka as never,
    bootstrapServers: ['127.0.0.1:9092'],
    invoke: options.invoke ?? (async () => null),
    destination: { send: async () => undefined, close: async () => undefined },
    retryDelayMs: () => 60_000,
    log: silent,
  });
  sources.push(source);
  source.start();
  return source;
};

/** An error as kafkajs throws it for a broker's error code. */
const protocolError = (type: string) =>
  Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type });

describe('KafkaEventSource', () => {
  // kafkajs keeps the coordinator it joined with and only refreshes metadata on NOT_COORDINATOR:
  // the commit is tried again once the consumer has rejoined (a coordinator that moved or died).
  it('commits again when the group coordinator has moved, and not after a rebalance', async () => {
    const moved = fakeKafka([
      protocolError('NOT_COORDINATOR_FOR_GROUP'),
      Object.assign(new Error('Broker 1 not found in the cached metadata'), {
        name: 'KafkaJSNumberOfRetriesExceeded',
      }),
    ]);
    startSource(moved);
    await moved.fetched(0, [message(0)]);
    await until(() => moved.calls.includes('commit 0@1'), 'the commit, third time', 5_000);
    expect(moved.calls.filter((c) => c.includes('0@1'))).toEqual([
      'refused 0@1',
      'refused 0@1',
      'commit 0@1',
    ]);

    const rebalanced = fakeKafka([protocolError('REBALANCE_IN_PROGRESS')]);
    startSource(rebalanced);
    await rebalanced.fetched(0, [message(0)]);
    await until(() => rebalanced.calls.includes('refused 0@1'), 'the refused commit');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(rebalanced.calls.filter((c) => c.includes('0@1'))).toEqual(['refused 0@1']);
  });

  // kafkajs restarting its consumer after a crash refuses commits until it has joined again.
  it('commits again while kafkajs rejoins its group after a crash', async () => {
    const fake = fakeKafka([
      Object.assign(
        new Error('Consumer group was not initialized, consumer#run must be called first'),
        {
          name: 'KafkaJSNonRetriableError',
          retriable: false,
        },
      ),
    ]);
    startSource(fake);
    await fake.fetched(0, [message(0)]);
    await until(() => fake.calls.includes('commit 0@1'), 'the commit, second time', 5_000);
    expect(fake.calls.filter((c) => c.includes('0@1'))).toEqual(['refused 0@1', 'commit 0@1']);
  });

  // A transactional producer's records are followed by a marker, which read committed never
  // delivers: the group's committed offset goes past it, or its lag never returns to 0.
  it('commits past transaction markers that end a fetch, or make up one', async () => {
    const fake = fakeKafka();
    startSource(fake);
    fake.join([0]);
    await fake.fetched(0, [message(0), message(1)], 2);
    await until(() => fake.calls.includes('commit 0@3'), 'the commit past the marker');
    fake.skipped(0, 5);
    await until(() => fake.calls.includes('commit 0@6'), 'the commit past a fetch of markers');
    expect(fake.calls.filter((c) => /^(resolve|commit)/.test(c))).toEqual([
      'resolve 0@2',
      'commit 0@3',
      'commit 0@6',
    ]);
  });

  it('pauses only the partition of an undecodable batch, after handing over the records before it', async () => {
    const fake = fakeKafka();
    startSource(fake);
    await fake.fetched(0, [message(0), undecodable(1)]);
    expect(fake.calls).toContain('pause 0');
    await until(() => fake.calls.includes('commit 0@1'), 'the record before the bad batch');
    expect(fake.calls.filter((c) => c.startsWith('pause'))).toEqual(['pause 0']);
  });

  it('commits what an invocation in flight when the source stops processed, before leaving the group', async () => {
    const fake = fakeKafka();
    const invoked = deferred();
    const release = deferred();
    const source = startSource(fake, {
      invoke: async () => {
        invoked.resolve(undefined);
        await release.promise;
        return null;
      },
    });
    void fake.fetched(0, [message(0)]);
    await within(invoked.promise, SETTLE_MS, 'the invocation');
    const stopped = source.stop(SETTLE_MS);
    release.resolve(undefined);
    await within(stopped, SETTLE_MS, 'stop');
    expect(fake.calls).toContain('commit 0@1');
  });

  it("joins with a 6 s session, so that a killed process's partitions come back within seconds (kafkajs's default: 30 s)", async () => {
    const fake = fakeKafka();
    startSource(fake);
    await until(() => fake.consumerConfigs.length > 0, 'the consumer');
    expect(fake.consumerConfigs[0]).toMatchObject({ sessionTimeout: 6_000 });
  });

  it('resumes a paused partition in kafkajs when it is revoked, so that it is fetched if assigned back', async () => {
    const fake = fakeKafka();
    startSource(fake);
    fake.join([0, 1]);
    await fake.fetched(1, [undecodable(5)]);
    expect(fake.calls).toEqual(['pause 1']);
    fake.join([0]);
    expect(fake.calls).toEqual(['pause 1', 'resume 1']);
  });
});
