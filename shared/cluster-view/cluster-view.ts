import type { Admin, GroupDescription } from 'kafkajs';
import kafkajs from 'kafkajs';
import {
  clusterStatus,
  type ExpectedNode,
  type NodeStatus,
  type PartitionStatus,
  within,
} from '../kafka/cluster-status.js';
import type { EmulatorReading } from './emulator-state.js';
import { BROWSE_GROUP_PREFIX } from './records.js';

/**
 * What the local cluster page shows (functions/cluster-view, web/cluster): the brokers, every
 * topic's partitions with their offsets, every consumer group with its members, assignments and
 * lag, and the emulator's event source mappings. Read through Kafka's admin API; plain data.
 */

export interface PartitionView extends PartitionStatus {
  /** The log start offset (the first record still kept). */
  readonly start: number;
  /** The end offset (high watermark): the next record's offset. */
  readonly end: number;
}

export interface TopicView {
  readonly name: string;
  readonly partitions: readonly PartitionView[];
}

export interface MemberView {
  readonly memberId: string;
  readonly clientId: string;
  readonly host: string;
  /** The partitions the group's leader assigned it, by topic. */
  readonly assignment: Readonly<Record<string, readonly number[]>>;
}

export interface GroupPartitionView {
  readonly topic: string;
  readonly partition: number;
  /** The committed offset (the next record the group reads), `null` before any commit. */
  readonly committed: number | null;
  readonly end: number;
  /** `end - committed`; `null` before any commit. */
  readonly lag: number | null;
  /** The member that owns the partition now, if any. */
  readonly memberId: string | null;
}

export interface GroupView {
  readonly groupId: string;
  /** The broker's name for it: `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`. */
  readonly state: string;
  readonly members: readonly MemberView[];
  readonly partitions: readonly GroupPartitionView[];
}

export interface ClusterView {
  /** When it was read (ms since the epoch). */
  readonly at: number;
  /** Whether any node answered: when none does, topics and groups are empty (unknown). */
  readonly reachable: boolean;
  readonly nodes: readonly NodeStatus[];
  readonly topics: readonly TopicView[];
  readonly groups: readonly GroupView[];
  readonly emulator: EmulatorReading;
}

export interface ClusterViewDependencies {
  readonly admin: Admin;
  readonly nodes: NodeBook;
  readonly emulator: () => Promise<EmulatorReading>;
  /** Longest any one question to the broker may take. */
  readonly timeoutMs: number;
  readonly now?: () => number;
}

/**
 * The nodes a page expects: the bootstrap addresses, named by node id once the cluster said which
 * is which. Kept between reads, because the metadata forgets a node that is down.
 */
export class NodeBook {
  readonly #bootstrap: readonly string[];
  readonly #ids = new Map<string, number>();

  constructor(bootstrap: readonly string[]) {
    this.#bootstrap = bootstrap;
  }

  learn(brokers: readonly { nodeId: number; host: string; port: number }[]): void {
    for (const b of brokers) this.#ids.set(`${b.host}:${b.port}`, b.nodeId);
  }

  /** Known nodes by id; a bootstrap address not seen yet gets a negative placeholder id. */
  expected(): ExpectedNode[] {
    const addresses = new Set([...this.#bootstrap, ...this.#ids.keys()]);
    return [...addresses]
      .map((address, i) => ({ id: this.#ids.get(address) ?? -(i + 1), address }))
      .sort((a, b) => a.id - b.id);
  }
}

const INTERNAL_TOPIC = /^__/;

/** The whole view now. Never throws for a broker that is down: `reachable` says so. */
export const readClusterView = async ({
  admin,
  nodes,
  emulator,
  timeoutMs,
  now = Date.now,
}: ClusterViewDependencies): Promise<ClusterView> => {
  const emulatorReading = emulator();
  const cluster = await within(admin.describeCluster(), timeoutMs, undefined);
  if (cluster) nodes.learn(cluster.brokers);
  const topicNames = cluster
    ? (await within(admin.listTopics(), timeoutMs, [] as string[]))
        .filter((t) => !INTERNAL_TOPIC.test(t))
        .sort()
    : [];
  const status = await clusterStatus({
    nodes: nodes.expected(),
    topics: topicNames,
    admin,
    timeoutMs,
  });
  const reachable = status.nodes.some((n) => n.up);
  const ends = new Map<string, { start: number; end: number }>();
  const topics: TopicView[] = [];
  if (reachable) {
    const offsets = await Promise.all(
      topicNames.map((t) => within(admin.fetchTopicOffsets(t), timeoutMs, [])),
    );
    topicNames.forEach((name, i) => {
      for (const o of offsets[i] ?? [])
        ends.set(`${name}:${o.partition}`, { start: Number(o.low), end: Number(o.high) });
    });
    for (const name of topicNames) {
      const partitions = status.partitions
        .filter((p) => p.topic === name)
        .map((p) => ({ ...p, ...(ends.get(`${name}:${p.partition}`) ?? { start: 0, end: 0 }) }));
      topics.push({ name, partitions });
    }
  }
  const groups = reachable ? await readGroups(admin, ends, timeoutMs) : [];
  return {
    at: now(),
    reachable,
    nodes: status.nodes,
    topics,
    groups,
    emulator: await emulatorReading,
  };
};

const readGroups = async (
  admin: Admin,
  ends: ReadonlyMap<string, { end: number }>,
  timeoutMs: number,
): Promise<GroupView[]> => {
  const listed = await within(admin.listGroups(), timeoutMs, { groups: [] });
  // The page's own record reads (records.ts) are not the cluster's consumers.
  const ids = listed.groups
    .map((g) => g.groupId)
    .filter((id) => !id.startsWith(BROWSE_GROUP_PREFIX))
    .sort();
  if (ids.length === 0) return [];
  const described = await within(admin.describeGroups(ids), timeoutMs, { groups: [] });
  const byId = new Map(described.groups.map((g) => [g.groupId, g]));
  return Promise.all(
    ids.map(async (groupId) => {
      const group = byId.get(groupId);
      const members = group ? membersOf(group) : [];
      const owner = new Map<string, string>();
      for (const m of members)
        for (const [topic, partitions] of Object.entries(m.assignment))
          for (const p of partitions) owner.set(`${topic}:${p}`, m.memberId);
      const committed = await within(admin.fetchOffsets({ groupId }), timeoutMs, []);
      const partitions = committed
        .flatMap(({ topic, partitions: ps }) =>
          ps.map(({ partition, offset }) => {
            const end = ends.get(`${topic}:${partition}`)?.end ?? 0;
            const at = Number(offset);
            return {
              topic,
              partition,
              committed: at >= 0 ? at : null,
              end,
              lag: at >= 0 ? Math.max(0, end - at) : null,
              memberId: owner.get(`${topic}:${partition}`) ?? null,
            };
          }),
        )
        .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
      return { groupId, state: group?.state ?? 'Unknown', members, partitions };
    }),
  );
};

/** Each member and its assignment, decoded as the consumer protocol writes it. */
const membersOf = (group: GroupDescription): MemberView[] =>
  group.members
    .map((m) => {
      const assignment: Record<string, number[]> = {};
      if (group.protocolType === 'consumer' && m.memberAssignment.length > 0) {
        const decoded = kafkajs.AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
        for (const [topic, partitions] of Object.entries(decoded?.assignment ?? {}))
          assignment[topic] = [...partitions].sort((a, b) => a - b);
      }
      return { memberId: m.memberId, clientId: m.clientId, host: m.clientHost, assignment };
    })
    .sort((a, b) => a.memberId.localeCompare(b.memberId));
