import { join } from 'node:path';
import * as zlib from 'node:zlib';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { type Compression, startJavaProducer } from '../tests/helpers/java-producer.js';
import {
  committedTotal,
  createTopic,
  deleteTopics,
  kafkaClient,
  localBrokers,
  preload,
  unique,
} from '../tests/helpers/kafka.js';
import { startOffline } from '../tests/helpers/offline.js';
import { defineFigure, interleave, runFigure, say } from './lib/figure.js';
import { compareRow, ROOT, type Row } from './lib/results.js';
import { median } from './lib/stats.js';

/**
 * Emulator delivery throughput: the offline Kafka event source, run by a real
 * `sls offline start` of bench/fixtures/noop-service, delivering a topic pre-loaded with
 * 100,000 records (200-byte values, 3 partitions) to a no-op function with batch size 100 and
 * 1,000, against a raw kafkajs consumer group reading the same topic with `eachBatch`.
 *
 * Ours is timed from the start of the first invocation (the plugin prints each invocation with
 * its duration when it ends) until the group's committed offsets reach the record count
 * (polled), so sls start-up and the group join are left out. The baseline is timed from the
 * start of its first `eachBatch` until it has seen every record.
 */

export const GOAL_RATIO = 0.8;
/** Compressed batches may cost at most 15% of the uncompressed throughput (#12). */
export const COMPRESSION_GOAL_RATIO = 0.85;
const CODECS = ['none', 'lz4', 'zstd'] as const satisfies readonly Compression[];
export const BATCH_SIZES = [100, 1_000] as const;
const FIXTURE = join(ROOT, 'bench/fixtures/noop-service');
const POLL_MS = 20;
const INVOCATION = /^Kafka noop (?:\S+-\d+ \[[^\]]*\] )+(\d+) records? (\d+) ms ok/;
/** Pause between latency samples, so that each record meets an idle poller. */
const LATENCY_GAP_MS = 200;

export interface Run {
  /** Records per second from the first delivery to the last. */
  readonly perSecond: number;
  /** Records per second from the group join on (includes the first fetch and cold start). */
  readonly perSecondFromJoin: number;
  readonly invocations: number;
  /** Records the function received (by the plugin's invocation lines). */
  readonly delivered: number;
}

/**
 * The no-op service under `sls offline start`, reading `topic` in `groupId`; `listener` sees its
 * lines; `env` adds to its environment.
 */
const startNoop = (
  brokers: readonly string[],
  { topic, groupId, batchSize }: { topic: string; groupId: string; batchSize: number },
  listener: (line: string, at: number) => void,
  env: Record<string, string> = {},
) =>
  startOffline(
    FIXTURE,
    {
      KAFKA_BROKERS: brokers.join(','),
      BENCH_TOPIC: topic,
      BENCH_GROUP: groupId,
      BENCH_BATCH_SIZE: String(batchSize),
      ...env,
    },
    {
      ready: null,
      keepChars: 8_000,
      // For CPU profiles of the emulator: BENCH_OFFLINE_NODE_ARGS='--cpu-prof --cpu-prof-dir=...'.
      nodeArgs: process.env.BENCH_OFFLINE_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
      listener,
    },
  );

/** When `groupId`'s committed offsets on `topic` reached `count` (polled every `POLL_MS`). */
const committedAll = async (
  admin: Admin,
  { topic, groupId, count }: { topic: string; groupId: string; count: number },
  output: () => string,
): Promise<number> => {
  const deadline = Date.now() + 300_000;
  while ((await committedTotal(admin, groupId, topic)) < count) {
    if (Date.now() > deadline) {
      throw new Error(`the emulator committed fewer than ${count} records in 300 s:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return performance.now();
};

/**
 * Our path: `sls offline start` delivering the whole topic to the no-op function (`env` adds to
 * its environment: bench/emulator-secured.ts reads through SASL_SSL this way).
 */
export const runOurs = async (
  admin: Admin,
  brokers: readonly string[],
  topic: string,
  count: number,
  batchSize: number,
  env: Record<string, string> = {},
): Promise<Run> => {
  const groupId = unique(`bench-noop-${batchSize}`);
  let firstStart = Number.POSITIVE_INFINITY;
  let invocations = 0;
  let delivered = 0;
  const offline = await startNoop(
    brokers,
    { topic, groupId, batchSize },
    (line, at) => {
      const match = INVOCATION.exec(line);
      if (!match) return;
      invocations += 1;
      delivered += Number(match[1]);
      firstStart = Math.min(firstStart, at - Number(match[2]));
    },
    env,
  );
  try {
    const joinedAt = await offline.waitForLine(/^Kafka noop: joined group/, 120_000);
    const done = await committedAll(admin, { topic, groupId, count }, () => offline.output());
    if (delivered < count) {
      // Invocation lines can trail the commit of their batch by a moment.
      await new Promise((r) => setTimeout(r, 200));
    }
    return {
      perSecond: count / ((done - firstStart) / 1000),
      perSecondFromJoin: count / ((done - joinedAt) / 1000),
      invocations,
      delivered,
    };
  } finally {
    await offline.stop();
  }
};

/**
 * First-record latency with no batching window: `sls offline start` on an empty topic, then one
 * record at a time (each produced once the previous one was delivered), timed from the send to
 * the invocation's line (the no-op function has then run). Per round, the median of `samples`.
 */
const latencyOurs = async (
  kafka: Kafka,
  admin: Admin,
  brokers: readonly string[],
  samples: number,
): Promise<number> => {
  const topic = await createTopic(admin, { prefix: 'bench-emulator-latency' });
  const producer = kafka.producer();
  await producer.connect();
  let delivered: (() => void) | undefined;
  const groupId = unique('bench-noop-latency');
  const offline = await startNoop(brokers, { topic, groupId, batchSize: 100 }, (line) => {
    if (INVOCATION.test(line)) delivered?.();
  });
  try {
    await offline.waitForLine(/^Kafka noop: joined group/, 120_000);
    return await sampleLatency(producer, topic, samples, (done) => {
      delivered = done;
    });
  } finally {
    await offline.stop();
    await producer.disconnect();
    await deleteTopics(admin, [topic]);
  }
};

/** The baseline's first-record latency: a raw kafkajs consumer group with the same fetch wait. */
const latencyBaseline = async (kafka: Kafka, admin: Admin, samples: number): Promise<number> => {
  const topic = await createTopic(admin, { prefix: 'bench-raw-latency' });
  const producer = kafka.producer();
  await producer.connect();
  const consumer = kafka.consumer({ groupId: unique('bench-raw-latency'), maxWaitTimeInMs: 500 });
  let delivered: (() => void) | undefined;
  const joined = new Promise<void>((resolve) =>
    consumer.on(consumer.events.GROUP_JOIN, () => resolve()),
  );
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        if (batch.messages.length > 0) delivered?.();
      },
    });
    await joined;
    return await sampleLatency(producer, topic, samples, (done) => {
      delivered = done;
    });
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await deleteTopics(admin, [topic]);
  }
};

/** Sends one record at a time and returns the median send-to-delivery time in ms. */
const sampleLatency = async (
  producer: Producer,
  topic: string,
  samples: number,
  onDelivered: (done: () => void) => void,
): Promise<number> => {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const arrived = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`record ${i} not delivered in 20 s`)),
        20_000,
      );
      onDelivered(() => {
        clearTimeout(timer);
        resolve(performance.now());
      });
    });
    await producer.send({
      topic,
      acks: -1,
      messages: [{ value: `latency-${i}`, partition: i % 3 }],
    });
    times.push((await arrived) - started);
    await new Promise((r) => setTimeout(r, LATENCY_GAP_MS));
  }
  return median(times);
};

/** The baseline: a raw kafkajs consumer group reading the topic with `eachBatch`. */
const runBaseline = async (kafka: Kafka, topic: string, count: number): Promise<Run> => {
  const consumer = kafka.consumer({ groupId: unique('bench-raw'), maxWaitTimeInMs: 500 });
  let joinedAt = 0;
  let firstStart = 0;
  let seen = 0;
  let batches = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joinedAt = performance.now();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the raw consumer saw ${seen} of ${count} records in 300 s`)),
        300_000,
      );
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            if (batches++ === 0) firstStart = performance.now();
            seen += batch.messages.length;
            if (seen >= count) {
              clearTimeout(timer);
              resolve(performance.now());
            }
          },
        })
        .catch(reject);
    });
    return {
      perSecond: count / ((done - firstStart) / 1000),
      perSecondFromJoin: count / ((done - joinedAt) / 1000),
      invocations: batches,
      delivered: seen,
    };
  } finally {
    await consumer.disconnect();
  }
};

type Codec = (typeof CODECS)[number];
type Sizes = { readonly count: number; readonly rounds: number; readonly samples: number };

/**
 * The broker's topics: `topic` loaded by kafkajs, and one per codec loaded by Kafka's Java
 * producer (uncompressed, lz4, zstd), all with the same `count` records.
 */
const setup = async ({ count }: Sizes) => {
  const brokers = await localBrokers();
  const kafka = kafkaClient(brokers, 'bench');
  const admin = kafka.admin();
  await admin.connect();
  const topic = await createTopic(admin, { prefix: 'bench-emulator' });
  const javaTopics: Partial<Record<Codec, string>> = {};
  const close = async () => {
    await deleteTopics(admin, [topic, ...Object.values(javaTopics)]);
    await admin.disconnect();
  };
  try {
    say(`emulator throughput: loading ${count.toLocaleString('en-US')} records into ${topic}`);
    await preload(kafka, topic, count);
    for (const codec of CODECS) {
      const compressed = await createTopic(admin, { prefix: `bench-emulator-${codec}` });
      javaTopics[codec] = compressed;
      say(
        `emulator throughput: loading ${count.toLocaleString('en-US')} ${codec} records into ${compressed} (Java producer)`,
      );
      const producer = await startJavaProducer({ brokers, compression: codec });
      try {
        await producer.fill(compressed, count);
      } finally {
        await producer.close();
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  const javaTopic = (codec: Codec) => javaTopics[codec] ?? '';
  return { brokers, kafka, admin, topic, javaTopic, close };
};

type Bench = Awaited<ReturnType<typeof setup>>;

/**
 * Three comparisons, each in interleaved rounds: throughput at batch size 100 and 1,000 against
 * the raw consumer group, compressed batches against uncompressed ones, and first-record latency.
 */
const drive = async (
  { brokers, kafka, admin, topic, javaTopic }: Bench,
  { count, rounds, samples }: Sizes,
) => {
  const throughput = await interleave(
    rounds,
    {
      b100: () => runOurs(admin, brokers, topic, count, 100),
      b1000: () => runOurs(admin, brokers, topic, count, 1_000),
      raw: () => runBaseline(kafka, topic, count),
    },
    (round, r) =>
      say(
        `emulator throughput round ${round + 1}/${rounds}: batch 100 ${r.b100.perSecond.toFixed(0)}/s (${r.b100.invocations} invocations), batch 1000 ${r.b1000.perSecond.toFixed(0)}/s (${r.b1000.invocations}), raw eachBatch ${r.raw.perSecond.toFixed(0)}/s (${r.raw.invocations} batches)`,
      ),
  );
  const compression = await interleave(
    rounds,
    {
      none: () => runOurs(admin, brokers, javaTopic('none'), count, 100),
      lz4: () => runOurs(admin, brokers, javaTopic('lz4'), count, 100),
      zstd: () => runOurs(admin, brokers, javaTopic('zstd'), count, 100),
    },
    (round, r) =>
      say(
        `emulator compressed batches round ${round + 1}/${rounds}: uncompressed ${r.none.perSecond.toFixed(0)}/s, lz4 ${r.lz4.perSecond.toFixed(0)}/s, zstd ${r.zstd.perSecond.toFixed(0)}/s (batch 100)`,
      ),
  );
  const latency = await interleave(
    rounds,
    {
      ours: () => latencyOurs(kafka, admin, brokers, samples),
      raw: () => latencyBaseline(kafka, admin, samples),
    },
    (round, r) =>
      say(
        `emulator first-record latency round ${round + 1}/${rounds}: ${r.ours.toFixed(1)} ms, raw ${r.raw.toFixed(1)} ms`,
      ),
  );
  return { throughput, compression, latency };
};

type Driven = Awaited<ReturnType<typeof drive>>;

const OURS_LABEL = 'sls offline + serverless-offline-kafka, no-op function';
const perSecond = (runs: readonly Run[]) => runs.map((r) => r.perSecond);
const fromJoin = (runs: readonly Run[]) => runs.map((r) => r.perSecondFromJoin);
const invocations = (runs: readonly Run[]) => median(runs.map((r) => r.invocations));

/** Throughput per batch size, first-record latency, then compressed batches. */
const rows = ({ throughput, compression, latency }: Driven): Row[] => [
  ...[
    { size: 100, runs: throughput.b100 },
    { size: 1_000, runs: throughput.b1000 },
  ].map(({ size, runs }) =>
    compareRow({
      figure: 'emulator delivery throughput',
      metric: `records/s, batch size ${size.toLocaleString('en-US')}`,
      oursLabel: OURS_LABEL,
      baselineLabel: 'raw kafkajs consumer group, eachBatch',
      ours: perSecond(runs),
      baseline: perSecond(throughput.raw),
      goal: { atLeast: GOAL_RATIO },
    }),
  ),
  compareRow({
    figure: 'emulator first-record latency',
    metric: 'ms from send to invocation, batching window 0 (median per round)',
    oursLabel: OURS_LABEL,
    baselineLabel: 'raw kafkajs consumer group, eachBatch, same fetch wait (500 ms)',
    ours: latency.ours,
    baseline: latency.raw,
  }),
  ...(['lz4', 'zstd'] as const).map((codec) =>
    compareRow({
      figure: 'emulator delivery throughput, compressed batches',
      metric: `records/s, batch size 100, ${codec} batches`,
      oursLabel: `sls offline + serverless-offline-kafka, ${codec} batches from Kafka's Java producer`,
      baselineLabel: 'the same, uncompressed batches from the same Java producer',
      ours: perSecond(compression[codec]),
      baseline: perSecond(compression.none),
      goal: { atLeast: COMPRESSION_GOAL_RATIO },
    }),
  ),
];

const report = (driven: Driven, { topic }: Bench, { count, rounds, samples }: Sizes) => {
  const { throughput } = driven;
  return {
    id: 'emulator-throughput',
    title: 'Emulator delivery throughput',
    rows: rows(driven),
    facts: [
      `${count.toLocaleString('en-US')} records of 200-byte values pre-loaded into ${topic} (3 partitions, keys of 1-3 digits, no headers); ${rounds} round(s), each a fresh sls offline start (and group) per batch size and a fresh raw consumer group.`,
      `Ours: from the start of the first invocation to the group's committed offsets reaching ${count.toLocaleString('en-US')} (polled every ${POLL_MS} ms), batching window 0 (resources.extensions), ${invocations(throughput.b100)} and ${invocations(throughput.b1000)} invocations. Baseline: from its first eachBatch to the last record seen (${invocations(throughput.raw)} batches).`,
      `First-record latency: ${samples} records per round, one at a time ${LATENCY_GAP_MS} ms apart on a fresh 3-partition topic, from the send (acks all) to the plugin's invocation line (ours) or the eachBatch call (baseline).`,
      `Compressed batches: the same ${count.toLocaleString('en-US')} records written by Kafka's Java producer (tests/fixtures/JavaProducer.java, batch.size 1 MB) uncompressed, with lz4 and with zstd into three more topics, each delivered at batch size 100 by a fresh sls offline start; decompression is the plugin's (lz4 by hand, zstd by ${typeof (zlib as { zstdDecompressSync?: unknown }).zstdDecompressSync === 'function' ? "Node's zlib" : 'fzstd'}).`,
      `Counting from the group join instead (first fetch and the function's cold start included): batch 100 ${median(fromJoin(throughput.b100)).toFixed(0)}/s, batch 1,000 ${median(fromJoin(throughput.b1000)).toFixed(0)}/s, raw ${median(fromJoin(throughput.raw)).toFixed(0)}/s (medians).`,
    ],
  };
};

export const measureEmulatorThroughput = defineFigure({
  sizes: ({ quick }): Sizes => ({
    count: quick ? 10_000 : 100_000,
    rounds: quick ? 1 : 3,
    samples: quick ? 5 : 20,
  }),
  setup,
  drive,
  report,
});

await runFigure(import.meta.url, measureEmulatorThroughput);
