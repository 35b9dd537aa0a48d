import { randomUUID } from 'node:crypto';
import { type Admin, type Consumer, Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import { inject } from 'vitest';

/** The brokers the global setup made sure of. */
export const brokers = (): string[] => inject('brokers');

export const testKafka = (clientId = 'tests'): Kafka =>
  new Kafka({ clientId, brokers: brokers(), logLevel: logLevel.NOTHING, retry: { retries: 3 } });

/** A name no other test uses. */
export const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

/** Creates a topic and returns its name. */
export const createTopic = async (
  admin: Admin,
  partitions = 3,
  prefix = 'test',
): Promise<string> => {
  const topic = unique(prefix);
  await admin.createTopics({
    topics: [{ topic, numPartitions: partitions }],
    waitForLeaders: true,
  });
  return topic;
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
