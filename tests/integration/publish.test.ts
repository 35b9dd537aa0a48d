import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/send-notification/handler.js';
import { KAFKA_LIBS } from '../../scripts/lib/broker.js';
import { loadConfig } from '../../shared/config.js';
import { createKafka } from '../../shared/kafka/client.js';
import { KafkaPublisher, PUBLISH_RETRY_AFTER_SECONDS } from '../../shared/kafka/publisher.js';
import { DEFAULT_USERS, NotificationSchema, UserDirectory } from '../../shared/models/index.js';
import { context, httpEvent, loadEvent } from '../helpers/events.js';
import { onAws } from '../helpers/identity.js';
import { createTopic, readRecords } from '../helpers/kafka.js';
import { silentLogger } from '../helpers/logger.js';
import { silentMetrics } from '../helpers/metrics.js';
import { brokers, testKafka } from '../helpers/test-broker.js';

const PARTITIONS = 3;

const handlerFor = (topic: string, env: Record<string, string> = {}) => {
  const settings = loadConfig({ KAFKA_BROKERS: brokers().join(','), ...env });
  const logger = silentLogger();
  const publisher = new KafkaPublisher(createKafka(settings.kafka, logger), {
    topic,
    timeoutMs: settings.kafka.sendTimeoutMs,
    logger,
  });
  const users = new UserDirectory(DEFAULT_USERS);
  const handler = createHandler({
    publisher,
    users,
    authenticator: onAws(),
    logger,
    metrics: silentMetrics(),
  });
  return { handler, publisher };
};

/** The partition Kafka's own Java client picks for each key (BuiltInPartitioner, murmur2). */
const javaPartitions = (keys: readonly string[]): Map<string, number> => {
  const out = execFileSync(
    'java',
    [
      '-cp',
      `${KAFKA_LIBS}/*`,
      join(import.meta.dirname, '../fixtures/JavaPartitioner.java'),
      String(PARTITIONS),
      ...keys,
    ],
    { encoding: 'utf8' },
  );
  return new Map(
    out
      .trim()
      .split('\n')
      .map((line) => {
        const [key = '', partition = ''] = line.split(' ');
        return [key, Number(partition)];
      }),
  );
};

const endOffsets = async (admin: Admin, topic: string): Promise<number> =>
  (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);

describe('publishing through the send-notification handler', () => {
  const kafka = testKafka('publish-tests');
  let admin: Admin;
  let topic: string;
  let app: ReturnType<typeof handlerFor>;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    topic = await createTopic(admin, { partitions: PARTITIONS, prefix: 'publish' });
    app = handlerFor(topic);
  });
  afterAll(async () => {
    await app.publisher.disconnect();
    await admin.disconnect();
  });

  it('writes the record with the recipient as key, the notification as value, and content headers', async () => {
    const response = await app.handler(loadEvent('send-form.json'), context);
    expect(response.statusCode).toBe(202);
    const receipt = JSON.parse(response.body ?? '');

    const [record] = await readRecords(kafka, topic, 1);
    expect(record?.partition).toBe(receipt.partition);
    expect(record?.message.offset).toBe(receipt.offset);
    expect(String(record?.message.key)).toBe('1');
    const value = NotificationSchema.parse(JSON.parse(String(record?.message.value)));
    expect(value).toMatchObject({
      id: receipt.id,
      from: { id: 2, name: 'Bruno' },
      to: { id: 1, name: 'Emma' },
      message: 'Bruno started following you.',
    });
    expect(String(record?.message.headers?.['content-type'])).toBe('application/json');
    expect(String(record?.message.headers?.['schema-version'])).toBe('1');
  });

  it('places keys 1-4 on the partitions the Java client would choose', async () => {
    const own = await createTopic(admin, { partitions: PARTITIONS, prefix: 'placement' });
    const placement = handlerFor(own);
    try {
      const batch = DEFAULT_USERS.map((u) => ({ fromId: 2, toId: u.id, message: `to ${u.name}` }));
      const response = await placement.handler(httpEvent('POST /notifications', batch), context);
      expect(response.statusCode).toBe(202);
      const java = javaPartitions(DEFAULT_USERS.map((u) => String(u.id)));
      const records = await readRecords(kafka, own, DEFAULT_USERS.length);
      for (const record of records) {
        expect(record.partition).toBe(java.get(String(record.message.key)));
      }
      const receipts = JSON.parse(response.body ?? '').notifications;
      expect(receipts.map((r: { partition: number }) => r.partition)).toEqual(
        DEFAULT_USERS.map((u) => java.get(String(u.id))),
      );
    } finally {
      await placement.publisher.disconnect();
    }
  });

  it('keeps one recipient in order on one partition, and reports consecutive offsets', async () => {
    const own = await createTopic(admin, { partitions: PARTITIONS, prefix: 'order' });
    const ordered = handlerFor(own);
    try {
      const batch = Array.from({ length: 20 }, (_, i) => ({
        fromId: 2,
        toId: 3,
        message: `m${i}`,
      }));
      const response = await ordered.handler(httpEvent('POST /notifications', batch), context);
      const receipts = JSON.parse(response.body ?? '').notifications as {
        partition: number;
        offset: string;
      }[];
      expect(new Set(receipts.map((r) => r.partition)).size).toBe(1);
      expect(receipts.map((r) => Number(r.offset))).toEqual(receipts.map((_, i) => i));
      const records = await readRecords(kafka, own, batch.length);
      expect(records.map((r) => JSON.parse(String(r.message.value)).message)).toEqual(
        batch.map((b) => b.message),
      );
    } finally {
      await ordered.publisher.disconnect();
    }
  });

  it.each([
    ['a malformed body', loadEvent('send-invalid.json'), 400],
    [
      'an unknown user',
      httpEvent('POST /notifications', { fromId: 2, toId: 42, message: 'x' }),
      404,
    ],
    [
      'an over-long message in a batch',
      httpEvent('POST /notifications', [
        { fromId: 2, toId: 2, message: 'ok' },
        { fromId: 2, toId: 3, message: 'x'.repeat(2001) },
      ]),
      413,
    ],
    ['plain text', httpEvent('POST /notifications', 'hello', 'text/plain'), 415],
    [
      'a body over 256 KB',
      httpEvent('POST /notifications', { fromId: 2, toId: 2, message: 'x'.repeat(300_000) }),
      413,
    ],
  ])('answers %s with %i and publishes nothing', async (_, event, status) => {
    const own = await createTopic(admin, { partitions: PARTITIONS, prefix: 'rejected' });
    const rejecting = handlerFor(own);
    try {
      const response = await rejecting.handler(event, context);
      expect(response.statusCode).toBe(status);
      expect(JSON.parse(response.body ?? '').error.code).toEqual(expect.any(String));
      expect(await endOffsets(admin, own)).toBe(0);
    } finally {
      await rejecting.publisher.disconnect();
    }
  });

  it('answers 503 with Retry-After when Kafka cannot be reached (how fast: bench/reliability.ts)', async () => {
    const unreachable = handlerFor(topic, {
      KAFKA_BROKERS: '127.0.0.1:1',
      KAFKA_SEND_TIMEOUT_MS: '2000',
    });
    const response = await unreachable.handler(loadEvent('send-json.json'), context);
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe(String(PUBLISH_RETRY_AFTER_SECONDS));
    expect(JSON.parse(response.body ?? '').error.code).toBe('service_unavailable');
    expect(response.body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    await unreachable.publisher.disconnect();
  });

  it('answers 503 when the topic does not exist, rather than creating it', async () => {
    const missing = handlerFor('no-such-topic-for-tests', { KAFKA_SEND_TIMEOUT_MS: '2000' });
    const response = await missing.handler(loadEvent('send-json.json'), context);
    expect(response.statusCode).toBe(503);
    expect(await admin.listTopics()).not.toContain('no-such-topic-for-tests');
    await missing.publisher.disconnect();
  });
});
