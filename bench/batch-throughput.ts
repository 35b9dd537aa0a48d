import { randomUUID } from 'node:crypto';
import { CompressionTypes, type Message } from 'kafkajs';
import { createHandler } from '../functions/send-notification/handler.js';
import { loadConfig } from '../shared/config.js';
import { createKafka } from '../shared/kafka/client.js';
import { KafkaPublisher, PUBLISHER_RETRY } from '../shared/kafka/publisher.js';
import { toRecord } from '../shared/kafka/records.js';
import { createLogger } from '../shared/logger.js';
import { createMetrics } from '../shared/metrics.js';
import {
  createNotification,
  DEFAULT_USERS,
  MAX_BATCH_SIZE,
  type SendRequest,
  UserDirectory,
} from '../shared/models/index.js';
import { httpEvent, lambdaContext } from '../tests/helpers/events.js';
import { onAws, SAMPLE_CALLER_ID } from '../tests/helpers/identity.js';
import {
  createTopic,
  deleteTopics,
  kafkaClient,
  kafkaSettings,
  localBrokers,
  PUBLISHER_LIKE_PRODUCER,
} from '../tests/helpers/kafka.js';
import { defineFigure, interleave, runFigure, say } from './lib/figure.js';
import { compareRow } from './lib/results.js';
import { msSince } from './lib/stats.js';

/**
 * Batch publish throughput: the send-notification handler with 500-item `POST /notifications`
 * requests (all four users as recipients, so the batch spans partitions and is written in one
 * Kafka transaction), one request at a time, against raw kafkajs `sendBatch` of the same 500
 * records (idempotent, acks from all replicas, no transaction), and, for information, the same
 * raw `sendBatch` inside a transaction (what all-or-nothing costs by itself).
 */

export const GOAL_RATIO = 0.8;

/** 500 notifications from the sample's caller to the demo's four users in turn. */
export const batchRequests = (size = MAX_BATCH_SIZE): SendRequest[] =>
  Array.from({ length: size }, (_, i) => ({
    fromId: SAMPLE_CALLER_ID,
    toId: (i % 4) + 1,
    message: `Notification ${i}: someone liked your post.`,
  }));

interface Sizes {
  readonly rounds: number;
  readonly perRound: number;
  readonly warmup: number;
}

/** A topic; our handler; a plain and a transactional raw producer with the same records. */
const setup = async () => {
  const brokers = await localBrokers();
  const admin = kafkaClient(brokers, 'bench').admin();
  await admin.connect();
  const topic = await createTopic(admin, { prefix: 'bench-batch-throughput' });

  const logger = createLogger('notifications');
  const publisher = new KafkaPublisher(createKafka(kafkaSettings(brokers), logger), {
    topic,
    timeoutMs: 5_000,
    logger,
  });
  const users = new UserDirectory(DEFAULT_USERS);
  const handler = createHandler({
    publisher,
    users,
    authenticator: onAws(),
    logger,
    metrics: createMetrics(loadConfig({})),
  });
  const requests = batchRequests();
  const event = httpEvent('POST /notifications', requests);
  let invocations = 0;
  const ours = async () => {
    const response = await handler(event, lambdaContext(`bench-${invocations++}`));
    if (response.statusCode !== 202) {
      throw new Error(`the handler answered ${response.statusCode}: ${response.body}`);
    }
  };

  // The same 500 records as our path writes (a fresh id and time are all that differ).
  const messages: Message[] = requests.map((r) => {
    const from = users.find(r.fromId ?? SAMPLE_CALLER_ID);
    const to = users.find(r.toId);
    if (!from || !to) throw new Error(`unknown user in ${JSON.stringify(r)}`);
    return toRecord(createNotification(from, to, r.message));
  });
  const kafka = kafkaClient(brokers, 'bench-baseline');
  const plainProducer = kafka.producer({ ...PUBLISHER_LIKE_PRODUCER });
  const transactionalProducer = kafka.producer({
    ...PUBLISHER_LIKE_PRODUCER,
    transactionalId: `bench-baseline-${randomUUID()}`,
    // As our publisher's: back-to-back transactions retry CONCURRENT_TRANSACTIONS after 20 ms.
    retry: { ...PUBLISHER_RETRY },
  });
  await Promise.all([plainProducer.connect(), transactionalProducer.connect()]);
  const topicMessages = [{ topic, messages }];
  const plain = async () => {
    await plainProducer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
  };
  const transactional = async () => {
    const transaction = await transactionalProducer.transaction();
    await transaction.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
    await transaction.commit();
  };

  return {
    topic,
    messages,
    paths: { ours, plain, transactional },
    close: async () => {
      await publisher.disconnect();
      await Promise.all([plainProducer.disconnect(), transactionalProducer.disconnect()]);
      await deleteTopics(admin, [topic]);
      await admin.disconnect();
    },
  };
};

type Bench = Awaited<ReturnType<typeof setup>>;

/** Warm-up, then rounds of sequential requests per path: notifications per second. */
const drive = async ({ paths }: Bench, { rounds, perRound, warmup }: Sizes) => {
  const throughput = async (fn: () => Promise<void>) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) await fn();
    return (perRound * MAX_BATCH_SIZE) / (msSince(start) / 1000);
  };
  say(`batch throughput: warming up (${warmup} requests each)`);
  for (let i = 0; i < warmup; i++) {
    await paths.ours();
    await paths.plain();
    await paths.transactional();
  }
  return interleave(
    rounds,
    {
      ours: () => throughput(paths.ours),
      plain: () => throughput(paths.plain),
      transactional: () => throughput(paths.transactional),
    },
    (round, r) =>
      say(
        `batch throughput round ${round + 1}/${rounds}: ours ${r.ours.toFixed(0)}/s, sendBatch ${r.plain.toFixed(0)}/s, transactional sendBatch ${r.transactional.toFixed(0)}/s`,
      ),
  );
};

const report = (
  results: Awaited<ReturnType<typeof drive>>,
  { topic, messages }: Bench,
  { rounds, perRound, warmup }: Sizes,
) => {
  const common = {
    figure: 'batch publish throughput',
    metric: 'notifications/s',
    oursLabel: 'send-notification handler, 500-item requests (one transaction each)',
    ours: results.ours,
  };
  return {
    id: 'batch-throughput',
    title: 'Batch publish throughput',
    rows: [
      compareRow({
        ...common,
        baselineLabel: 'raw kafkajs sendBatch',
        baseline: results.plain,
        goal: { atLeast: GOAL_RATIO },
      }),
      compareRow({
        ...common,
        baselineLabel: 'raw kafkajs transactional sendBatch, same retries (informational)',
        baseline: results.transactional,
      }),
    ],
    facts: [
      `${rounds} rounds of ${perRound} sequential 500-item requests per path after ${warmup} warm-up requests each; throughput per round, median and min-max over rounds.`,
      `Topic ${topic}: 3 partitions; 500 notifications to all four users per request (keys 1-4, about ${Buffer.byteLength(String(messages[0]?.value))}-byte JSON values); acks=-1, idempotent, maxInFlightRequests 1, no compression.`,
      'Our path validates all 500 items, publishes them in one transaction (all or nothing across partitions), logs one JSON line per notification and writes one EMF metrics line per request to stdout (/dev/null here).',
    ],
  };
};

export const measureBatchThroughput = defineFigure({
  sizes: ({ quick }): Sizes =>
    quick ? { rounds: 3, perRound: 4, warmup: 2 } : { rounds: 8, perRound: 20, warmup: 5 },
  setup,
  drive,
  report,
});

await runFigure(import.meta.url, measureBatchThroughput);
