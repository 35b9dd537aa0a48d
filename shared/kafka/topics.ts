import type { Admin, Kafka } from 'kafkajs';
import * as z from 'zod/mini';
import { TooFewPartitionsError } from '../errors.js';

export interface TopicSpec {
  readonly topic: string;
  readonly partitions: number;
  /** Replicas per partition; `undefined` takes the broker's `default.replication.factor`. */
  readonly replicationFactor?: number;
  /**
   * The topic's `min.insync.replicas`: replicas that must hold a write acknowledged with
   * `acks=all`; `undefined` takes the broker's.
   */
  readonly minInsyncReplicas?: number;
}

export interface TopicOutcome {
  readonly topic: string;
  readonly status: 'created' | 'exists';
  readonly partitions: number;
}

/**
 * Creates each topic that does not exist yet; never relies on broker auto-creation. A topic that
 * exists keeps its partitions, even when fewer than asked: adding partitions later would move
 * keys to other partitions and break per-recipient order, so that is left to an operator (and so
 * are its replicas and settings).
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
        ...(s.minInsyncReplicas === undefined
          ? {}
          : {
              configEntries: [{ name: 'min.insync.replicas', value: String(s.minInsyncReplicas) }],
            }),
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

/**
 * Connects an admin client, creates the topics of `specs` that are missing, and disconnects.
 * @throws TooFewPartitionsError when a topic exists with fewer partitions than asked
 */
export const provisionTopics = async (
  kafka: Pick<Kafka, 'admin'>,
  specs: readonly TopicSpec[],
): Promise<TopicOutcome[]> => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const outcomes = await ensureTopics(admin, specs);
    const short = outcomes.flatMap((o, i) => {
      const asked = specs[i]?.partitions ?? 0;
      return o.partitions < asked ? [`${o.topic} has ${o.partitions} (asked: ${asked})`] : [];
    });
    if (short.length > 0) {
      throw new TooFewPartitionsError(
        `Topics exist with fewer partitions than asked: ${short.join('; ')}. Adding partitions ` +
          'moves keys to other partitions and breaks per-recipient order, so it is left to an ' +
          'operator: add them with kafka-topics.sh --alter, or ask for the partitions they have.',
      );
    }
    return outcomes;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};

const PARTITIONS_EXPECTED = 'expected a whole number of partitions from 1 to 10000';
const REPLICAS_EXPECTED = 'expected a whole number of replicas from 1 to 15';

/** CloudFormation passes numbers as strings: `"3"` as 3. */
const numeric = z.transform((v: unknown) =>
  typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v,
);
const replicas = z.optional(
  z.pipe(
    numeric,
    z
      .int({ error: REPLICAS_EXPECTED })
      .check(z.gte(1, { error: REPLICAS_EXPECTED }), z.lte(15, { error: REPLICAS_EXPECTED })),
  ),
);

/**
 * The `Topics` property of the `Custom::KafkaTopics` resource (serverless/resources/
 * kafka-topics.json): `[{ "Name": "notifications", "Partitions": "3", "ReplicationFactor": "3",
 * "MinInsyncReplicas": "2" }, ...]`, the last two optional. CloudFormation passes numbers as
 * strings.
 */
export const TopicsPropertySchema = z.pipe(
  z
    .array(
      z.object({
        Name: z.string().check(z.regex(/^[A-Za-z0-9._-]{1,249}$/, 'expected a Kafka topic name')),
        Partitions: z.pipe(
          numeric,
          z
            .int({ error: PARTITIONS_EXPECTED })
            .check(
              z.gte(1, { error: PARTITIONS_EXPECTED }),
              z.lte(10_000, { error: PARTITIONS_EXPECTED }),
            ),
        ),
        ReplicationFactor: replicas,
        MinInsyncReplicas: replicas,
      }),
    )
    .check(z.minLength(1, 'expected at least one topic')),
  z.transform((topics): TopicSpec[] =>
    topics.map(({ Name, Partitions, ReplicationFactor, MinInsyncReplicas }) => ({
      topic: Name,
      partitions: Partitions,
      ...(ReplicationFactor === undefined ? {} : { replicationFactor: ReplicationFactor }),
      ...(MinInsyncReplicas === undefined ? {} : { minInsyncReplicas: MinInsyncReplicas }),
    })),
  ),
);
