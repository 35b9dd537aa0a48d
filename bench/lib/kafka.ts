import { randomUUID } from 'node:crypto';
import { type Admin, Kafka, logLevel, type Message, Partitioners } from 'kafkajs';
import { ensureBroker } from '../../scripts/lib/broker.js';
import { config } from '../../shared/config.js';

/** The broker benchmarks run against: `KAFKA_BROKERS`, or the local one (started if need be). */
export const benchBrokers = async (): Promise<string[]> => {
  const handle = await ensureBroker(config().kafka.brokers);
  return handle.brokers;
};

/** A kafkajs client for baselines and set-up: quiet, default timeouts. */
export const benchKafka = (brokers: readonly string[], clientId = 'bench'): Kafka =>
  new Kafka({ clientId, brokers: [...brokers], logLevel: logLevel.NOTHING });

/** A name no other run uses. */
export const unique = (prefix: string): string => `bench-${prefix}-${randomUUID().slice(0, 8)}`;

/** Creates a fresh topic and returns its name. */
export const createTopic = async (admin: Admin, prefix: string, partitions = 3) => {
  const topic = unique(prefix);
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: partitions }],
  });
  return topic;
};

/** Deletes the topics a run created (best effort: a benchmark must not fail on clean-up). */
export const deleteTopics = async (admin: Admin, topics: readonly string[]): Promise<void> => {
  if (topics.length === 0) return;
  await admin.deleteTopics({ topics: [...topics], timeout: 10_000 }).catch(() => undefined);
};

/** The producer settings our publisher uses, for the raw baselines. */
export const BASELINE_PRODUCER = {
  idempotent: true,
  maxInFlightRequests: 1,
  createPartitioner: Partitioners.DefaultPartitioner,
} as const;

/**
 * Fills `topic` with `count` records of `valueBytes` bytes each, spread evenly over its
 * partitions, in sendBatch calls of `chunk` records.
 */
export const preload = async (
  kafka: Kafka,
  topic: string,
  count: number,
  { partitions = 3, valueBytes = 200, chunk = 5_000 } = {},
): Promise<void> => {
  const producer = kafka.producer({ ...BASELINE_PRODUCER });
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
