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
  // kafkajs's own filter takes one aborted transaction per record: read from inside two, it
  // delivered the second's record (the publisher's fault test saw it). The event source's filter
  // (plugins/serverless-offline-kafka/src/aborted.js) is installed for this project by
  // tests/setup/read-committed.ts, as the plugin installs it under sls offline.
  it('reads committed from inside two aborted transactions: none of their records', async () => {
    const topic = await createTopic(admin, { partitions: 1, prefix: 'compat-aborted' });
    const transactional = (n: number) =>
      kafka.producer({
        transactionalId: unique(`compat-tx-${n}`),
        idempotent: true,
        maxInFlightRequests: 1,
      });
    const [first, second] = [transactional(1), transactional(2)];
    const plain = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await Promise.all([first.connect(), second.connect(), plain.connect()]);
    const send = (value: string) => ({ topic, acks: -1, messages: [{ value, partition: 0 }] });
    try {
      const one = await first.transaction();
      await one.send(send('aborted 1')); // offset 0
      const two = await second.transaction();
      await two.send(send('aborted 2')); // offset 1
      await plain.send(send('plain 1')); // offset 2
      // The first aborted first: the broker lists it first, which kafkajs's filter needs to fail.
      await one.abort();
      await two.abort();
      await plain.send(send('plain 2'));
    } finally {
      await Promise.all([first.disconnect(), second.disconnect(), plain.disconnect()]);
    }
    const consumer = kafka.consumer({ groupId: unique('compat-aborted'), maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: string[] = [];
    const read = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(String(message.value));
          if (String(message.value) === 'plain 2') resolve();
        },
      });
    });
    // From offset 1: inside the first transaction (begun at 0) and the second (begun at 1).
    consumer.seek({ topic, partition: 0, offset: '1' });
    await read;
    await consumer.disconnect();
    expect(seen).toEqual(['plain 1', 'plain 2']);
  });
});
