import type { Admin, ITopicConfig } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { TooFewPartitionsError } from '../../shared/errors.js';
import { ensureTopics, provisionTopics, TopicsPropertySchema } from '../../shared/kafka/topics.js';

/** An admin client over an in-memory cluster: topic name to partition count. */
const fakeKafka = (existing: Record<string, number>) => {
  const topics = new Map(Object.entries(existing));
  const calls: string[] = [];
  const admin = {
    connect: async () => {
      calls.push('connect');
    },
    disconnect: async () => {
      calls.push('disconnect');
    },
    listTopics: async () => [...topics.keys()],
    createTopics: async ({ topics: wanted }: { topics: ITopicConfig[] }) => {
      calls.push(`create ${wanted.map((t) => `${t.topic}:${t.numPartitions}`).join(',')}`);
      for (const t of wanted) topics.set(t.topic, t.numPartitions ?? 1);
      return true;
    },
    fetchTopicMetadata: async ({ topics: names }: { topics: string[] }) => ({
      topics: names.map((name) => ({
        name,
        partitions: Array.from({ length: topics.get(name) ?? 0 }, (_, i) => ({ partitionId: i })),
      })),
    }),
  };
  return { kafka: { admin: () => admin as unknown as Admin }, calls };
};

const SPECS = [
  { topic: 'notifications', partitions: 6 },
  { topic: 'notifications.dlq', partitions: 6 },
];

describe('provisionTopics', () => {
  it('creates the missing topics with their partitions and disconnects', async () => {
    const { kafka, calls } = fakeKafka({ 'notifications.dlq': 8 });
    expect(await provisionTopics(kafka, SPECS)).toEqual([
      { topic: 'notifications', status: 'created', partitions: 6 },
      { topic: 'notifications.dlq', status: 'exists', partitions: 8 },
    ]);
    expect(calls).toEqual(['connect', 'create notifications:6', 'disconnect']);
  });

  it('creates nothing when every topic exists', async () => {
    const { kafka, calls } = fakeKafka({ notifications: 6, 'notifications.dlq': 6 });
    await provisionTopics(kafka, SPECS);
    expect(calls).toEqual(['connect', 'disconnect']);
  });

  it('refuses a topic with fewer partitions than asked, naming it, and still disconnects', async () => {
    const { kafka, calls } = fakeKafka({ notifications: 3 });
    const error = await provisionTopics(kafka, SPECS).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TooFewPartitionsError);
    expect(String(error)).toContain('notifications has 3 (asked: 6)');
    expect(calls.at(-1)).toBe('disconnect');
  });
});

describe('TopicsPropertySchema', () => {
  it('reads the partitions CloudFormation sends as strings', () => {
    expect(
      TopicsPropertySchema.parse([
        { Name: 'notifications', Partitions: '6' },
        { Name: 'notifications.dlq', Partitions: 6 },
      ]),
    ).toEqual(SPECS);
  });

  it('reads the replicas and min.insync.replicas, and refuses a replica count out of range', () => {
    expect(
      TopicsPropertySchema.parse([
        { Name: 'n', Partitions: '6', ReplicationFactor: '3', MinInsyncReplicas: '2' },
      ]),
    ).toEqual([{ topic: 'n', partitions: 6, replicationFactor: 3, minInsyncReplicas: 2 }]);
    const bad = TopicsPropertySchema.safeParse([
      { Name: 'n', Partitions: '6', ReplicationFactor: '0' },
    ]);
    expect(bad.success).toBe(false);
  });
});

describe('ensureTopics', () => {
  it('creates a topic with its replicas and its min.insync.replicas', async () => {
    const created: ITopicConfig[] = [];
    const admin = {
      listTopics: async () => [],
      createTopics: async ({ topics }: { topics: ITopicConfig[] }) => {
        created.push(...topics);
        return true;
      },
      fetchTopicMetadata: async () => ({ topics: [] }),
    } as unknown as Admin;
    await ensureTopics(admin, [
      { topic: 'n', partitions: 6, replicationFactor: 3, minInsyncReplicas: 2 },
      { topic: 'd', partitions: 6 },
    ]);
    expect(created).toEqual([
      {
        topic: 'n',
        numPartitions: 6,
        replicationFactor: 3,
        configEntries: [{ name: 'min.insync.replicas', value: '2' }],
      },
      // The broker's defaults.
      { topic: 'd', numPartitions: 6, replicationFactor: -1 },
    ]);
  });
});
