import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import {
  addressesOf,
  brokerStatus,
  type LocalKafka,
  localKafka,
  startLocalKafka,
  startNode,
  stopBroker,
  stopNode,
} from '../../scripts/lib/broker.js';
import { LOCAL_DIR } from '../../scripts/lib/paths.js';
import type { ClusterStatus, PartitionStatus } from '../../shared/kafka/cluster-status.js';
import { kafkaClient } from './kafka.js';
import { until } from './wait.js';

/**
 * A three-node Kafka on the jars that a fault test or a benchmark stops, kills and starts node by
 * node: the run's own local cluster when it has three nodes (`LOCAL_KAFKA_BROKERS=3`), else one
 * started here on ports of its own (node 1 on 29092) and removed by `close()`. Nothing here
 * depends on the test runner.
 */

/** Node 1's port of a cluster started for a test or a benchmark, away from `npm start`'s. */
export const TEST_CLUSTER_BASE_PORT = 29_092;
/** The topics whose partitions must all be in sync again after a node returns. */
const INTERNAL_TOPICS = ['__consumer_offsets', '__transaction_state'] as const;
const IN_SYNC_TIMEOUT_MS = 90_000;

export interface TestCluster {
  readonly local: LocalKafka;
  readonly brokers: string[];
  /** A quiet admin-capable client of the cluster, with retries over every node. */
  readonly kafka: Kafka;
  status(topics: readonly string[]): Promise<ClusterStatus>;
  /** Controlled shutdown of node `id` (waits for it to exit); `kill`: SIGKILL. */
  stop(id: number, options?: { kill?: boolean }): Promise<void>;
  /** Starts node `id` again and waits until it answers (not until it is back in sync). */
  start(id: number): Promise<void>;
  /** Waits until every partition of `topics` and the internal topics has all three nodes in sync. */
  inSync(topics: readonly string[]): Promise<void>;
  /** The partition's leader now (`null` while it has none). */
  leaderOf(topic: string, partition: number): Promise<number | null>;
  close(): Promise<void>;
}

/** A cluster of three to break: the run's own (`provided`) or one started now. */
export const startTestCluster = async (provided?: LocalKafka | null): Promise<TestCluster> => {
  const own = provided?.nodes.length !== 3;
  const stateDir = own ? mkdtempSync(join(LOCAL_DIR, 'kafka-test-')) : undefined;
  const local =
    provided && !own
      ? provided
      : localKafka(3, { basePort: TEST_CLUSTER_BASE_PORT, stateDir: stateDir ?? '' });
  if (own) await startLocalKafka(local);
  const brokers = addressesOf(local);
  const kafka = kafkaClient(brokers, 'test-cluster', { retries: 8, initialRetryTime: 100 });
  const status = (topics: readonly string[]) => brokerStatus(local, undefined, topics);
  const inSync = (topics: readonly string[]) =>
    until(
      async () => {
        const { nodes, partitions } = await status([...topics, ...INTERNAL_TOPICS]);
        // The internal topics when they exist: the transactions' is made with the first one.
        return (
          nodes.every((n) => n.up) &&
          topics.every((t) => partitions.some((p) => p.topic === t)) &&
          partitions.every((p: PartitionStatus) => p.leader !== null && p.isr.length === 3)
        );
      },
      IN_SYNC_TIMEOUT_MS,
      `every partition of ${topics.join(', ')} and the internal topics in sync on 3 nodes`,
      250,
    );
  return {
    local,
    brokers,
    kafka,
    status,
    stop: (id, options) => stopNode(local, id, options),
    start: (id) => startNode(local, id),
    inSync,
    leaderOf: async (topic, partition) =>
      (await status([topic])).partitions.find((p) => p.partition === partition)?.leader ?? null,
    close: async () => {
      if (!own) {
        for (const node of local.nodes) await startNode(local, node.id);
        return;
      }
      await stopBroker(local);
      if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
};
