import { Kafka, logLevel } from 'kafkajs';
import { config } from '../../shared/config.js';
import { ensureTopics } from '../../shared/kafka/topics.js';

/** Creates the notifications and dead-letter topics (never left to broker auto-creation). */
export const createTopics = async (brokers: readonly string[]): Promise<void> => {
  const { topics } = config();
  const admin = new Kafka({
    clientId: 'topics',
    brokers: [...brokers],
    logLevel: logLevel.WARN,
  }).admin();
  await admin.connect();
  try {
    const outcomes = await ensureTopics(admin, [
      { topic: topics.notifications, partitions: topics.partitions },
      { topic: topics.deadLetter, partitions: topics.partitions },
    ]);
    for (const o of outcomes) {
      process.stderr.write(`[kafka] topic ${o.topic}: ${o.status}, ${o.partitions} partitions\n`);
    }
  } finally {
    await admin.disconnect();
  }
};
