import type { Kafka, PartitionMetadata, Producer, ProducerBatch, ProducerConfig } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkaSendError, RetriableError } from '../../shared/errors.js';
import { KafkaPublisher } from '../../shared/kafka/publisher.js';
import { createNotification, DEFAULT_USERS, type User } from '../../shared/models/index.js';
import { silentLogger } from '../helpers/logger.js';

/**
 * When KafkaPublisher refuses a partition after a failed write, against a fake kafkajs client
 * (the broker's part is the fault tests'): only after a failure that held its function for a
 * good part of the deadline, never after one that came back at once.
 */

const TOPIC = 'notifications';
const TIMEOUT_MS = 400;
const PARTITIONS: PartitionMetadata[] = [0, 1, 2].map((partitionId) => ({
  partitionId,
  leader: 1,
  replicas: [1],
  isr: [1],
  partitionErrorCode: 0,
  offlineReplicas: [],
}));

/** A client whose producers answer each send as `next()` says, counting the sends. */
const fakeKafka = (next: () => Promise<void>) => {
  const sent: number[] = [];
  const client = {
    producer: (config: ProducerConfig) => {
      const partitioner = config.createPartitioner?.();
      if (!partitioner) throw new Error('the publisher chooses partitions');
      const sendBatch = async ({ topicMessages = [] }: ProducerBatch) => {
        const partitions = new Set<number>();
        for (const { topic, messages } of topicMessages) {
          for (const message of messages) {
            partitions.add(partitioner({ topic, partitionMetadata: PARTITIONS, message }));
          }
        }
        sent.push(...partitions);
        await next();
        return [...partitions].map((partition) => ({
          topicName: TOPIC,
          partition,
          errorCode: 0,
          baseOffset: '0',
        }));
      };
      return {
        connect: async () => undefined,
        disconnect: async () => undefined,
        sendBatch,
      } as unknown as Producer;
    },
  } as unknown as Kafka;
  return { kafka: async () => client, sent };
};

// Bruno's key (2) and Lena's (4) are on two partitions of three (murmur2, as the Java client).
const [from, bruno, , lena] = DEFAULT_USERS;
const to = (user: User | undefined) => {
  if (!from || !user) throw new Error('no users');
  return [createNotification(from, user, 'hello')];
};

/** A publisher as the send function makes it, on the fake client. */
const publisherOn = (kafka: ReturnType<typeof fakeKafka>['kafka']) =>
  new KafkaPublisher(kafka, { topic: TOPIC, timeoutMs: TIMEOUT_MS, logger: silentLogger() });

const reasonOf = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RetriableError);
  const cause = (error as Error).cause;
  expect(cause).toBeInstanceOf(KafkaSendError);
  return (cause as KafkaSendError).reason;
};

describe('KafkaPublisher after a failed write', () => {
  it('refuses nothing after a failure that came back at once (a transaction coordinator moving)', async () => {
    let fail = false;
    const { kafka, sent } = fakeKafka(async () => {
      if (fail) throw new Error('This is not the correct coordinator for this group');
    });
    const publisher = publisherOn(kafka);
    try {
      await publisher.publish(to(bruno));
      fail = true;
      expect(await reasonOf(publisher.publish(to(bruno)))).toBe('in-doubt');
      fail = false;
      // The same partition at once, by a new producer: sent, and accepted.
      await expect(publisher.publish(to(bruno))).resolves.toHaveLength(1);
      expect(sent).toHaveLength(3);
    } finally {
      await publisher.disconnect();
    }
  });

  it("refuses the partition of a write that waited out its deadline for a while, not the others'", async () => {
    let stall = false;
    const { kafka, sent } = fakeKafka(async () => {
      if (stall) await new Promise((resolve) => setTimeout(resolve, 2 * TIMEOUT_MS));
    });
    const publisher = publisherOn(kafka);
    try {
      await publisher.publish(to(bruno));
      stall = true;
      expect(await reasonOf(publisher.publish(to(bruno)))).toBe('in-doubt');
      stall = false;
      const before = sent.length;
      // Refused at once, nothing sent; another recipient's partition goes on.
      expect(await reasonOf(publisher.publish(to(bruno)))).toBe('reconnecting');
      expect(sent).toHaveLength(before);
      await expect(publisher.publish(to(lena))).resolves.toHaveLength(1);
      expect(sent).toHaveLength(before + 1);
      expect(sent.at(-1)).not.toBe(sent[0]);
    } finally {
      await publisher.disconnect();
    }
  });
});
