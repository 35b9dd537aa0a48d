import type { Admin } from 'kafkajs';

export interface TopicSpec {
  readonly topic: string;
  readonly partitions: number;
  /** Replicas per partition; `undefined` takes the broker's `default.replication.factor`. */
  readonly replicationFactor?: number;
}

export interface TopicOutcome {
  readonly topic: string;
  readonly status: 'created' | 'exists';
  readonly partitions: number;
}

/**
 * Creates each topic that does not exist yet; never relies on broker auto-creation. A topic that
 * exists keeps its partitions, even when fewer than asked: adding partitions later would move
 * keys to other partitions and break per-recipient order, so that is left to an operator.
 */
export const ensureTopics = async (
  admin: Admin,
  specs: readonly TopicSpec[],
): Promise<TopicOutcome[]> => {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.partitions,
        replicationFactor: s.replicationFactor ?? -1,
      })),
    });
  }
  const { topics } = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.topic) });
  const partitionsOf = new Map(topics.map((t) => [t.name, t.partitions.length]));
  return specs.map((s) => ({
    topic: s.topic,
    status: existing.has(s.topic) ? 'exists' : 'created',
    partitions: partitionsOf.get(s.topic) ?? 0,
  }));
};
