import { afterEach, describe, expect, it } from 'vitest';
import type { LambdaKafkaEvent } from '../src/event.js';
import { KafkaEventSource } from '../src/source.js';
import { message, silent, testMapping, until, within } from './support.js';

/**
 * The event source against a fake kafkajs (the boundary it does not test): what it asks the
 * consumer (pause, resume, commit) when partitions are assigned, revoked or undecodable.
 */

type Handler = (event: { payload: unknown }) => void;
type EachBatch = (payload: {
  batch: { partition: number; highWatermark: string; messages: unknown[] };
  resolveOffset: (offset: string) => void;
}) => Promise<void>;

const fakeKafka = () => {
  const calls: string[] = [];
  const handlers = new Map<string, Handler>();
  let eachBatch: EachBatch | undefined;
  const consumer = {
    events: { GROUP_JOIN: 'join', CRASH: 'crash' },
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
      calls.push(`commit ${offsets.map((o) => `${o.partition}@${o.offset}`).join()}`);
    },
    disconnect: async () => undefined,
  };
  const kafka = {
    admin: () => ({
      connect: async () => undefined,
      listTopics: async () => ['notifications'],
      disconnect: async () => undefined,
    }),
    consumer: () => consumer,
  };
  return {
    kafka,
    calls,
    join: (partitions: number[]) =>
      handlers.get('join')?.({ payload: { memberAssignment: { notifications: partitions } } }),
    fetched: async (partition: number, messages: unknown[]) => {
      await until(() => eachBatch !== undefined, 'the consumer to run');
      await eachBatch?.({
        batch: { partition, highWatermark: '100', messages },
        resolveOffset: () => undefined,
      });
    },
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

describe('KafkaEventSource', () => {
  it('pauses only the partition of an undecodable batch, after handing over the records before it', async () => {
    const fake = fakeKafka();
    startSource(fake);
    await fake.fetched(0, [message(0), undecodable(1)]);
    expect(fake.calls).toContain('pause 0');
    await until(() => fake.calls.includes('commit 0@1'), 'the record before the bad batch');
    expect(fake.calls.filter((c) => c.startsWith('pause'))).toEqual(['pause 0']);
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
