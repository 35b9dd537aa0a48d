import { randomUUID } from 'node:crypto';
import {
  type Admin,
  type Consumer,
  Kafka,
  type KafkaMessage,
  logLevel,
  type Message,
  Partitioners,
  type RetryOptions,
} from 'kafkajs';
import { ensureBroker } from '../../scripts/lib/broker.js';
import { type Config, config, loadConfig } from '../../shared/config.js';

/**
 * Kafka for tests and benchmarks alike: a client, unique names, topics made and removed,
 * records loaded and read back. Nothing here depends on the test runner (the brokers a test
 * run provides are in `test-broker.ts`).
 */

/** The broker to run against outside a test run: `KAFKA_BROKERS`, or the local one (started if need be). */
export const localBrokers = async (): Promise<string[]> =>
  (await ensureBroker(config().kafka.brokers, config().localKafkaNodes)).brokers;

/** A quiet kafkajs client for set-up, checks and raw baselines; its admins wait for new topics. */
export const kafkaClient = (
  brokers: readonly string[],
  clientId = 'tests',
  retry?: RetryOptions,
): Kafka => {
  const kafka = new Kafka({
    clientId,
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    ...(retry ? { retry } : {}),
  });
  const admin = kafka.admin.bind(kafka);
  kafka.admin = (config) => patientAdmin(admin(config));
  return kafka;
};

/** How long a new topic's metadata may take to show on a busy machine. */
const NEW_TOPIC_METADATA_MS = 30_000;

/**
 * kafkajs's `createTopics({ waitForLeaders: true })` gives up when the new topic's metadata
 * answers UNKNOWN_TOPIC_OR_PARTITION, which Kafka 4 does for a moment while its brokers learn of
 * the topic (often on a busy machine): the topic exists, so this waits for its leaders instead.
 */
export const patientAdmin = (admin: Admin): Admin => {
  const createTopics = admin.createTopics.bind(admin);
  admin.createTopics = async (options) => {
    try {
      return await createTopics(options);
    } catch (error) {
      const unknown = (error as { type?: unknown }).type === 'UNKNOWN_TOPIC_OR_PARTITION';
      if (!options.waitForLeaders || !unknown) throw error;
      const topics = options.topics.map((t) => t.topic);
      const deadline = Date.now() + NEW_TOPIC_METADATA_MS;
      for (;;) {
        const led = await admin
          .fetchTopicMetadata({ topics })
          .then((m) => m.topics.every((t) => t.partitions.every((p) => p.leader >= 0)))
          .catch(() => false);
        if (led) return true;
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  return admin;
};

/** `config().kafka` for a plaintext broker list, as `KAFKA_BROKERS=...` gives it to a function. */
export const kafkaSettings = (brokers: readonly string[]): Config['kafka'] =>
  loadConfig({ KAFKA_BROKERS: brokers.join(',') }).kafka;

/** A name no other test or run uses. */
export const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

/** Creates a fresh topic and returns its name. */
export const createTopic = async (
  admin: Admin,
  { prefix = 'test', partitions = 3 }: { prefix?: string; partitions?: number } = {},
): Promise<string> => {
  const topic = unique(prefix);
  await admin.createTopics({
    topics: [{ topic, numPartitions: partitions }],
    waitForLeaders: true,
  });
  return topic;
};

/** Deletes the topics a run created (best effort: clean-up must not fail a run). */
export const deleteTopics = async (admin: Admin, topics: readonly string[]): Promise<void> => {
  if (topics.length === 0) return;
  await admin.deleteTopics({ topics: [...topics], timeout: 10_000 }).catch(() => undefined);
};

/** The producer settings of our publisher, for raw baselines: idempotent, the Java partitioner. */
export const PUBLISHER_LIKE_PRODUCER = {
  idempotent: true,
  maxInFlightRequests: 1,
  createPartitioner: Partitioners.DefaultPartitioner,
} as const;

/**
 * Fills `topic` with `count` records of `valueBytes` bytes each, spread evenly over its
 * partitions, in `send` calls of `chunk` records.
 */
export const preload = async (
  kafka: Kafka,
  topic: string,
  count: number,
  { partitions = 3, valueBytes = 200, chunk = 5_000 } = {},
): Promise<void> => {
  const producer = kafka.producer({ ...PUBLISHER_LIKE_PRODUCER });
  await producer.connect();
  try {
    const filler = 'x'.repeat(valueBytes);
    for (let start = 0; start < count; start += chunk) {
      const messages: Message[] = [];
      for (let i = start; i < Math.min(count, start + chunk); i++) {
        const head = `{"n":${i},"pad":"`;
        messages.push({
          key: String(i % 1000),
          partition: i % partitions,
          value: `${head}${filler.slice(0, Math.max(0, valueBytes - head.length - 2))}"}`,
        });
      }
      await producer.send({ topic, acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
};

/** The sum of a group's committed offsets on `topic` (0 for partitions without a commit). */
export const committedTotal = async (admin: Admin, groupId: string, topic: string) => {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
};

export interface Received {
  readonly partition: number;
  readonly message: KafkaMessage;
}

/**
 * Reads `topic` from the beginning with a new consumer group until `count` records have arrived
 * (or `timeoutMs` passes), then disconnects. Reads committed records only, as Kafka's default.
 */
export const readRecords = async (
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<Received[]> => {
  const consumer: Consumer = kafka.consumer({ groupId: unique('reader'), maxWaitTimeInMs: 100 });
  const received: Received[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${received.length} of ${count} records from ${topic}`)),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          received.push({ partition, message });
          if (received.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return received;
};

/** A record's place and the notification id its value holds. */
export interface Placed {
  readonly id: string;
  readonly partition: number;
  readonly offset: string;
}

/**
 * Every committed record of `topic`, read from the beginning by a new group until each partition
 * has been read to its end: its high watermark as the broker reports it when fetched, so past
 * any transaction still open when called (read-committed reads wait for it to end). Call it once
 * the writers are done. A partition whose every record is in a transaction still open when
 * called counts as empty.
 */
export const readToEnd = async (
  kafka: Kafka,
  topic: string,
  timeoutMs = 60_000,
): Promise<Received[]> => {
  const admin = kafka.admin();
  await admin.connect();
  // The admin client reads committed offsets: a partition at 0 holds nothing committed yet.
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const pending = new Set(offsets.filter((p) => p.high !== '0').map((p) => p.partition));
  const received: Received[] = [];
  if (pending.size === 0) return received;
  const consumer = kafka.consumer({ groupId: unique('read-topic'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${topic}: partitions ${[...pending]} not read to their end`)),
        timeoutMs,
      );
      // Emitted for every fetched batch, also one of only control records or aborted ones,
      // which never reach eachBatch: the end of a partition is often such a marker.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        if (BigInt(payload.lastOffset) >= BigInt(payload.highWatermark) - 1n) {
          pending.delete(payload.partition);
        }
        if (pending.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages)
            received.push({ partition: batch.partition, message });
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return received;
};

/** `readToEnd`, each record as its place and `id`: the value's `id` field (notifications), or `''`. */
export const readTopic = async (
  kafka: Kafka,
  topic: string,
  timeoutMs = 60_000,
): Promise<Placed[]> =>
  (await readToEnd(kafka, topic, timeoutMs)).map(({ partition, message }) => ({
    id: idOf(message.value),
    partition,
    offset: message.offset,
  }));

const idOf = (value: Buffer | null): string => {
  try {
    const parsed = JSON.parse(String(value)) as { id?: unknown };
    return typeof parsed.id === 'string' ? parsed.id : '';
  } catch {
    return '';
  }
};
