import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BROWSE_GROUP_PREFIX,
  RECORD_LIMITS,
  readLatestRecords as readRecordsOnce,
} from '../../shared/cluster-view/records.js';
import { RetriableError, ValidationError } from '../../shared/errors.js';
import { toRecord } from '../../shared/kafka/records.js';
import { createNotification, DEFAULT_USERS } from '../../shared/models/index.js';
import { createTopic, deleteTopics } from '../helpers/kafka.js';
import { testKafka } from '../helpers/test-broker.js';

/**
 * shared/cluster-view/records.ts against the run's real broker: the latest records of a partition
 * as produced (notifications decoded, the rest raw, headers, a tombstone), a key's among them, a
 * partition whose last offset is a transaction's marker, and nothing left behind on the broker
 * (no group, no committed offset).
 */

const [EMMA, BRUNO] = DEFAULT_USERS as [(typeof DEFAULT_USERS)[0], (typeof DEFAULT_USERS)[0]];

describe('readLatestRecords', () => {
  const kafka: Kafka = testKafka('cluster-records');
  const admin: Admin = kafka.admin();
  // The page's 4 s deadline is for a person waiting; here a guard against hanging only (a fresh
  // group's join on a busy machine beside the other projects took longer).
  const guard = { kafka: async () => kafka, admin: async () => admin, timeoutMs: 30_000 };
  // Asks again after a 503 (Retry-After: 1), as the page does: a fresh broker's first group waits
  // for its offsets topic to be created (CI's clean clone), and the read answers RetriableError.
  const readLatestRecords = async (
    deps: typeof guard & { fetchBytes?: number },
    request: Parameters<typeof readRecordsOnce>[1],
  ) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await readRecordsOnce(deps, request);
      } catch (error) {
        if (!(error instanceof RetriableError) || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  };
  const deps = guard;
  let topic: string;
  const notification = createNotification(EMMA, BRUNO, 'hello Bruno');
  const notPlainText = Buffer.from([0xff, 0xfe, 0x00, 0x01]);

  beforeAll(async () => {
    await admin.connect();
    topic = await createTopic(admin, { prefix: 'records', partitions: 2 });
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        // offsets 0 to 4 of partition 0
        { partition: 0, ...toRecord(notification) },
        { partition: 0, key: 'raw', value: 'not a notification', headers: { trace: 'abc' } },
        { partition: 0, key: 'bytes', value: notPlainText },
        { partition: 0, key: 'gone', value: null },
        { partition: 0, key: '2', value: '{"json":"but not a notification"}' },
      ],
    });
    await producer.disconnect();
    // Partition 1 ends on a transaction's commit marker, which no consumer is handed.
    const transactional = kafka.producer({
      transactionalId: `${topic}-tx`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await transactional.connect();
    const transaction = await transactional.transaction();
    await transaction.send({
      topic,
      messages: [
        { partition: 1, key: 'a', value: 'one' },
        { partition: 1, key: 'b', value: 'two' },
      ],
    });
    await transaction.commit();
    await transactional.disconnect();
  });

  afterAll(async () => {
    await deleteTopics(admin, [topic]);
    await admin.disconnect();
  });

  it('reads the latest records of a partition, newest first, each value decoded or raw', async () => {
    const result = await readLatestRecords(deps, { topic, partition: 0, limit: 10 });
    expect(result).toMatchObject({ topic, partition: 0, start: 0, end: 5, from: 0, key: null });
    expect(result.complete).toBe(true);
    expect(result.records.map((r) => r.offset)).toEqual([4, 3, 2, 1, 0]);
    const [json, tombstone, bytes, raw, first] = result.records;
    expect(first?.value).toEqual({ kind: 'notification', notification });
    expect(first?.key).toEqual({ encoding: 'utf8', text: '2', bytes: 1, truncated: false });
    expect(first?.headers.map((h) => [h.name, h.value?.text])).toEqual([
      ['content-type', 'application/json'],
      ['schema-version', '1'],
    ]);
    expect(raw?.value).toEqual({
      kind: 'raw',
      raw: { encoding: 'utf8', text: 'not a notification', bytes: 18, truncated: false },
    });
    expect(raw?.headers).toEqual([
      { name: 'trace', value: { encoding: 'utf8', text: 'abc', bytes: 3, truncated: false } },
    ]);
    expect(bytes?.value).toEqual({
      kind: 'raw',
      raw: {
        encoding: 'base64',
        text: notPlainText.toString('base64'),
        bytes: 4,
        truncated: false,
      },
    });
    expect(tombstone?.value).toEqual({ kind: 'tombstone' });
    expect(json?.value).toMatchObject({ kind: 'raw', raw: { encoding: 'utf8' } });
    expect(first?.timestamp).toBeGreaterThan(Date.now() - 10 * 60_000);
  });

  it('reads only the last `limit` offsets', async () => {
    const result = await readLatestRecords(deps, { topic, partition: 0, limit: 2 });
    expect(result.from).toBe(3);
    expect(result.records.map((r) => r.offset)).toEqual([4, 3]);
  });

  it("finds a key's latest records among the partition's last ones", async () => {
    const result = await readLatestRecords(deps, { topic, partition: 0, limit: 10, key: '2' });
    expect(result.key).toBe('2');
    expect(result.records.map((r) => r.offset)).toEqual([4, 0]);
  });

  it('reads a partition to its end when its last offset is a transaction marker', async () => {
    const result = await readLatestRecords(deps, { topic, partition: 1, limit: 10 });
    // Two records and the commit marker.
    expect(result.end).toBe(3);
    expect(result.complete).toBe(true);
    expect(result.records.map((r) => r.key?.text)).toEqual(['b', 'a']);
  });

  it('reads in several fetches when one does not hold them all, each record once', async () => {
    const many = await createTopic(admin, { prefix: 'records-many', partitions: 1 });
    try {
      const producer = kafka.producer();
      await producer.connect();
      // Ten batches of five records of 200 bytes: a fetch of 1 KiB returns about one batch.
      for (let b = 0; b < 10; b++) {
        await producer.send({
          topic: many,
          messages: Array.from({ length: 5 }, (_, i) => ({
            key: String((b * 5 + i) % 4),
            value: `${b * 5 + i}`.padEnd(200, '.'),
          })),
        });
      }
      await producer.disconnect();
      const small = { ...deps, fetchBytes: 1024 };
      const latest = await readLatestRecords(small, { topic: many, partition: 0, limit: 50 });
      expect(latest.complete).toBe(true);
      expect(latest.records.map((r) => r.offset)).toEqual(
        Array.from({ length: 50 }, (_, i) => 49 - i),
      );
      const ofKey = await readLatestRecords(small, {
        topic: many,
        partition: 0,
        limit: 3,
        key: '1',
      });
      expect(ofKey.records.map((r) => r.offset)).toEqual([49, 45, 41]);
    } finally {
      await deleteTopics(admin, [many]);
    }
  });

  it('leaves no group behind on the broker (so no committed offset either)', async () => {
    await readLatestRecords(deps, { topic, partition: 0, limit: 1 });
    const { groups } = await admin.listGroups();
    expect(groups.filter((g) => g.groupId.startsWith(BROWSE_GROUP_PREFIX))).toEqual([]);
  });

  it('commits no offset for its group', async () => {
    // The group kept (its deletion skipped) to look at what it holds.
    const keeping = { ...deps, admin: async () => ({ ...admin, deleteGroups: async () => [] }) };
    await readLatestRecords(keeping, { topic, partition: 0, limit: 5 });
    const { groups } = await admin.listGroups();
    const kept = groups.map((g) => g.groupId).filter((id) => id.startsWith(BROWSE_GROUP_PREFIX));
    expect(kept).toHaveLength(1);
    try {
      const offsets = await admin.fetchOffsets({ groupId: kept[0] ?? '', topics: [topic] });
      expect(offsets.flatMap((t) => t.partitions.map((p) => p.offset))).toEqual(['-1', '-1']);
    } finally {
      await admin.deleteGroups(kept);
    }
  });

  it('refuses a partition or a topic the broker does not have, as a client error', async () => {
    await expect(readLatestRecords(deps, { topic, partition: 7, limit: 1 })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      readLatestRecords(deps, { topic: `${topic}-none`, partition: 0, limit: 1 }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it(`refuses a read beyond ${RECORD_LIMITS.MAX_CONCURRENT} at once, as a passing fault`, async () => {
    const reads = Array.from({ length: RECORD_LIMITS.MAX_CONCURRENT + 1 }, () =>
      readRecordsOnce(deps, { topic, partition: 0, limit: 5 }).then(
        () => 'read',
        (error: unknown) => error,
      ),
    );
    const outcomes = await Promise.all(reads);
    expect(outcomes.filter((o) => o === 'read')).toHaveLength(RECORD_LIMITS.MAX_CONCURRENT);
    expect(outcomes.filter((o) => o instanceof RetriableError)).toHaveLength(1);
  });
});
