import { type Admin, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, readRecords, unique } from '../helpers/kafka.js';
import { testKafka } from '../helpers/test-broker.js';

/**
 * kafkajs 2.2.4 predates Kafka 4, which removed old protocol versions (KIP-896). These tests prove
 * that what this project uses still works against the broker we run (Apache Kafka 4.1.x).
 */
describe('kafkajs against the local broker', () => {
  const kafka = testKafka('compat');
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.disconnect();
  });

  it('administers topics: create, describe, list, add partitions, delete', async () => {
    const topic = await createTopic(admin, { partitions: 2, prefix: 'compat-admin' });
    expect(await admin.listTopics()).toContain(topic);
    await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] });
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(topics[0]?.partitions).toHaveLength(4);
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.length).toBeGreaterThan(0);
    await admin.deleteTopics({ topics: [topic] });
    expect(await admin.listTopics()).not.toContain(topic);
  });

  it('produces idempotently with acks=all and consumes in a group, committing offsets', async () => {
    const topic = await createTopic(admin, { partitions: 3, prefix: 'compat-group' });
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const messages = Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}` }));
    await producer.send({ topic, acks: -1, messages });
    await producer.disconnect();

    const groupId = unique('compat-group');
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(String(message.value));
          if (seen.length === messages.length) resolve();
        },
      });
    });
    await consumer.disconnect();
    expect(seen.sort()).toEqual(messages.map((m) => m.value).sort());

    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = offsets[0]?.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
    expect(committed).toBe(messages.length);
    const groups = await admin.describeGroups([groupId]);
    expect(groups.groups[0]?.groupId).toBe(groupId);
  });

  it('commits a transaction across partitions that read-committed consumers then see', async () => {
    const topic = await createTopic(admin, { partitions: 3, prefix: 'compat-tx' });
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      transactionalId: unique('compat-tx'),
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const aborted = await producer.transaction();
    await aborted.send({ topic, acks: -1, messages: [{ key: '1', value: 'aborted' }] });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({
      topic,
      acks: -1,
      messages: ['1', '2', '3', '4'].map((key) => ({ key, value: `committed-${key}` })),
    });
    await committed.commit();
    await producer.disconnect();

    const records = await readRecords(kafka, topic, 4);
    expect(records.map((r) => String(r.message.value)).sort()).toEqual([
      'committed-1',
      'committed-2',
      'committed-3',
      'committed-4',
    ]);
  });
});
