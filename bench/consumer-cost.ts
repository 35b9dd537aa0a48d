import { createRequire } from 'node:module';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { MSKEvent } from 'aws-lambda';
import { createHandler } from '../functions/process-notifications/handler.js';
import { ensureInboxTable, startDynalite } from '../scripts/lib/dynalite.js';
import { createDocumentClient } from '../shared/aws/dynamodb-client.js';
import { loadConfig } from '../shared/config.js';
import { toItem } from '../shared/inbox/inbox-table.js';
import { InboxStore } from '../shared/inbox/store.js';
import { createKafka, LOCAL_BROKERS } from '../shared/kafka/client.js';
import { KafkaDeadLetterPublisher } from '../shared/kafka/dead-letters.js';
import { toRecord } from '../shared/kafka/records.js';
import { createLogger } from '../shared/logger.js';
import { createMetrics } from '../shared/metrics.js';
import {
  createNotification,
  DEFAULT_USERS,
  type Notification,
  NotificationSchema,
  UserDirectory,
} from '../shared/models/index.js';
import { lambdaContext } from '../tests/helpers/events.js';
import { kafkaSettings, unique } from '../tests/helpers/kafka.js';
import { defineFigure, interleave, runFigure, say } from './lib/figure.js';
import { compareRow } from './lib/results.js';
import { median, msSince } from './lib/stats.js';

/**
 * Consumer processing cost: the process-notifications handler invoked in-process with a real
 * 100-record MSK event (built by the emulator's own event builder) against dynalite, counting
 * the DynamoDB calls it makes, against the same records written with one PutCommand per record
 * (one after another, as naive code does; and, for information, four at a time).
 */

const require = createRequire(import.meta.url);
const emulatorEvent = require('../plugins/serverless-offline-kafka/src/event.js') as {
  buildEvent: (
    source: { kind: 'msk'; arn: string },
    bootstrapServers: readonly string[],
    records: readonly unknown[],
  ) => MSKEvent;
  toLambdaRecord: (topic: string, partition: number, message: unknown) => unknown;
};

export const RECORDS_PER_BATCH = 100;
export const GOAL_CALLS_RATIO = 1 / 20;
const CLUSTER_ARN = 'arn:aws:kafka:us-east-1:123456789012:cluster/bench/0a1b2c3d-1';
const TOPIC = 'notifications';

/** A 100-record event of one partition, offsets from `firstOffset`, as the emulator builds it. */
export const mskEvent = (firstOffset: number, size = RECORDS_PER_BATCH): MSKEvent => {
  const now = Date.now();
  const records = Array.from({ length: size }, (_, i) => {
    const from = DEFAULT_USERS[i % 4];
    const to = DEFAULT_USERS[(i + 1) % 4];
    if (!from || !to) throw new Error('the demo users are missing');
    const record = toRecord(createNotification(from, to, `Notification ${i}: a new follower.`));
    const headers = Object.fromEntries(
      Object.entries(record.headers ?? {}).map(([k, v]) => [k, Buffer.from(String(v))]),
    );
    return emulatorEvent.toLambdaRecord(TOPIC, 0, {
      key: Buffer.from(String(record.key)),
      value: Buffer.from(String(record.value)),
      offset: String(firstOffset + i),
      timestamp: String(now),
      headers,
    });
  });
  return emulatorEvent.buildEvent({ kind: 'msk', arn: CLUSTER_ARN }, [...LOCAL_BROKERS], records);
};

/** A DynamoDB document client for `endpoint` that counts the calls sent through it. */
const countingClient = (endpoint: string) => {
  const client = createDocumentClient({ endpoint, region: undefined });
  const counter = { calls: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      counter.calls += 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchCountCalls' },
  );
  return { client, counter };
};

interface Sizes {
  readonly rounds: number;
  readonly perRound: number;
  readonly warmup: number;
}

/** dynalite and a table; our handler and the naive baseline, each with its call counter. */
const setup = async () => {
  const store = await startDynalite({ port: 0 });
  const table = unique('bench-inbox');
  await ensureInboxTable(store.endpoint, table);
  const logger = createLogger('notifications');

  const ours = countingClient(store.endpoint);
  const deadLetters = new KafkaDeadLetterPublisher(
    createKafka(kafkaSettings([...LOCAL_BROKERS]), logger),
    { topic: `${TOPIC}.dlq`, timeoutMs: 5_000, logger },
  );
  const handler = createHandler(
    {
      inbox: new InboxStore(ours.client, table, logger),
      deadLetters,
      users: new UserDirectory(DEFAULT_USERS),
      logger,
      metrics: createMetrics(loadConfig({})),
    },
    { partialBatchResponse: false },
  );
  let invocations = 0;
  const invoke = (event: MSKEvent) => handler(event, lambdaContext(`bench-${invocations++}`));

  // The naive baseline: decode each record and write it with its own PutCommand.
  const naive = countingClient(store.endpoint);
  const put = (raw: { value: string; partition: number; offset: number }) => {
    const stored = decode(raw);
    return naive.client.send(new PutCommand({ TableName: table, Item: toItem(stored) }));
  };
  const putSequential = async (event: MSKEvent) => {
    for (const raw of recordsOf(event)) await put(raw);
  };
  const putFourAtATime = async (event: MSKEvent) => {
    const queue = [...recordsOf(event)];
    const worker = async () => {
      for (let raw = queue.shift(); raw; raw = queue.shift()) await put(raw);
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  };

  return {
    table,
    paths: {
      ours: { run: invoke, counter: ours.counter },
      sequential: { run: putSequential, counter: naive.counter },
      concurrent: { run: putFourAtATime, counter: naive.counter },
    },
    close: async () => {
      await deadLetters.disconnect();
      ours.client.destroy();
      naive.client.destroy();
      await store.close();
    },
  };
};

type Bench = Awaited<ReturnType<typeof setup>>;

/** A record's notification, decoded as naive code does it. */
const decode = (raw: { value: string; partition: number; offset: number }) => ({
  notification: JSON.parse(Buffer.from(raw.value, 'base64').toString('utf8')) as Notification,
  partition: raw.partition,
  offset: String(raw.offset),
});

const recordsOf = (event: MSKEvent) => Object.values(event.records).flat();

/** Warm-up, then rounds of fresh 100-record events per path: time and store calls per batch. */
const drive = async ({ paths }: Bench, { rounds, perRound, warmup }: Sizes) => {
  let nextOffset = 0;
  const freshEvent = () => {
    const event = mskEvent(nextOffset);
    nextOffset += RECORDS_PER_BATCH;
    return event;
  };
  /** Per batch: median milliseconds and calls over `perRound` fresh 100-record events. */
  const batches =
    (path: {
      run: (event: MSKEvent) => Promise<unknown>;
      counter: { calls: number };
    }): (() => Promise<{ ms: number; calls: number }>) =>
    async () => {
      const ms: number[] = [];
      const calls: number[] = [];
      for (let i = 0; i < perRound; i++) {
        const event = freshEvent();
        const before = path.counter.calls;
        const start = process.hrtime.bigint();
        await path.run(event);
        ms.push(msSince(start));
        calls.push(path.counter.calls - before);
      }
      return { ms: median(ms), calls: median(calls) };
    };

  // The handler must accept the event as valid notifications, or the comparison means nothing.
  const [first] = recordsOf(mskEvent(0, 1));
  NotificationSchema.parse(decode(first as never).notification);

  say(`consumer cost: warming up (${warmup} batches each)`);
  for (let i = 0; i < warmup; i++) {
    await paths.ours.run(freshEvent());
    await paths.sequential.run(freshEvent());
    await paths.concurrent.run(freshEvent());
  }
  return interleave(
    rounds,
    {
      ours: batches(paths.ours),
      sequential: batches(paths.sequential),
      concurrent: batches(paths.concurrent),
    },
    (round, r) =>
      say(
        `consumer cost round ${round + 1}/${rounds}: ours ${r.ours.ms.toFixed(1)} ms/${r.ours.calls} calls, puts ${r.sequential.ms.toFixed(1)} ms/${r.sequential.calls} calls, 4 at a time ${r.concurrent.ms.toFixed(1)} ms`,
      ),
  );
};

const report = (
  results: Awaited<ReturnType<typeof drive>>,
  { table }: Bench,
  { rounds, perRound, warmup }: Sizes,
) => {
  const figure = 'consumer processing cost';
  const oursLabel = 'process-notifications handler, 100-record event, dynalite';
  const ms = (xs: readonly { ms: number }[]) => xs.map((x) => x.ms);
  const calls = (xs: readonly { calls: number }[]) => xs.map((x) => x.calls);
  return {
    id: 'consumer-cost',
    title: 'Consumer processing cost',
    rows: [
      compareRow({
        figure,
        metric: 'store calls per batch',
        oursLabel,
        baselineLabel: 'one PutCommand per record',
        ours: calls(results.ours),
        baseline: calls(results.sequential),
        goal: { atMost: GOAL_CALLS_RATIO },
      }),
      compareRow({
        figure,
        metric: 'ms per batch',
        oursLabel,
        baselineLabel: 'one PutCommand per record, sequential',
        ours: ms(results.ours),
        baseline: ms(results.sequential),
        goal: { atMost: 1 },
      }),
      compareRow({
        figure,
        metric: 'ms per batch',
        oursLabel,
        baselineLabel: 'one PutCommand per record, 4 in flight (informational)',
        ours: ms(results.ours),
        baseline: ms(results.concurrent),
      }),
    ],
    facts: [
      `${rounds} rounds of ${perRound} fresh 100-record events per path after ${warmup} warm-up events each; median per round, median and min-max over rounds.`,
      `Records as the emulator builds them (plugins/serverless-offline-kafka/src/event.js): base64 key and value of a valid notification JSON, two headers; dynalite in memory in the benchmark's process, table ${table}.`,
      'Store calls are counted by a middleware on the DynamoDB document client (one per command sent, before SDK retries).',
      'Our path validates every record against the schema, writes in BatchWriteItem calls of 25 (4 in flight) and logs one JSON line per stored notification and writes one EMF metrics line per batch to stdout (/dev/null here); the baselines only decode and put.',
    ],
  };
};

export const measureConsumerCost = defineFigure({
  sizes: ({ quick }): Sizes =>
    quick ? { rounds: 3, perRound: 4, warmup: 2 } : { rounds: 8, perRound: 10, warmup: 5 },
  setup,
  drive,
  report,
});

await runFigure(import.meta.url, measureConsumerCost);
