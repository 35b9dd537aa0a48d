import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';

/**
 * The shape of a local Kafka: one node, or three (`LOCAL_KAFKA_BROKERS=3`), each node a KRaft
 * controller and a broker in one process. Three combined nodes form the controller quorum
 * (majority 2) with only three JVMs, as few as a replicated cluster can have on a 2-core machine;
 * separate controllers would add three more. Pure: what each node listens on and its properties,
 * for scripts/lib/broker.ts (the jars) and tests/unit/local-broker.test.ts (docker-compose.yml).
 */

/** The node counts a local Kafka can have. */
export const LOCAL_NODE_COUNTS = [1, 3] as const;
export type LocalNodeCount = (typeof LOCAL_NODE_COUNTS)[number];

/** Node N's ports are node 1's plus (N - 1) times this: 9092, 9192, 9292. */
export const NODE_PORT_STEP = 100;
/** Node 1's client port; its controller and proxied listeners take the next two ports. */
export const DEFAULT_BASE_PORT = 9092;
/** Where the proxied listener is advertised: its own port plus this (tests/helpers/toxiproxy). */
export const PROXIED_ADVERTISED_OFFSET = 10_000;
const HOST = '127.0.0.1';

export interface KafkaNode {
  readonly id: number;
  /** `host:port` of the PLAINTEXT listener, the one clients bootstrap from. */
  readonly address: string;
  readonly port: number;
  readonly controllerPort: number;
  /** The PROXIED listener (fault injection), advertised at `port + PROXIED_ADVERTISED_OFFSET`. */
  readonly proxiedPort: number;
}

/** The nodes of a local Kafka of `count` nodes whose node 1 listens on `basePort`. */
export const kafkaNodes = (count: LocalNodeCount, basePort = DEFAULT_BASE_PORT): KafkaNode[] =>
  Array.from({ length: count }, (_, i) => {
    const port = basePort + i * NODE_PORT_STEP;
    return {
      id: i + 1,
      address: `${HOST}:${port}`,
      port,
      controllerPort: port + 1,
      proxiedPort: port + 2,
    };
  });

/** `k=v` lines (comments and blank lines skipped) as a map, in order. */
export const parseProperties = (text: string): Map<string, string> =>
  new Map(
    text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => {
        const at = line.indexOf('=');
        return [line.slice(0, at), line.slice(at + 1)] as const;
      }),
  );

const readProperties = (name: string) =>
  parseProperties(readFileSync(join(ROOT, 'scripts/kafka', name), 'utf8'));

/** What every node has (scripts/kafka/server.properties). */
export const COMMON_PROPERTIES = readProperties('server.properties');
/** What a three-node cluster changes: replication 3, min.insync.replicas 2, fast fencing. */
export const CLUSTER_PROPERTIES = readProperties('cluster.properties');

/**
 * The properties of `node` in a local Kafka of `nodes`: the common ones, the cluster's when there
 * are several nodes, then the node's own id, quorum and listeners.
 */
export const nodeProperties = (
  nodes: readonly KafkaNode[],
  node: KafkaNode,
): Map<string, string> => {
  const properties = new Map(COMMON_PROPERTIES);
  if (nodes.length > 1) for (const [k, v] of CLUSTER_PROPERTIES) properties.set(k, v);
  properties.set('node.id', String(node.id));
  properties.set(
    'controller.quorum.voters',
    nodes.map((n) => `${n.id}@${HOST}:${n.controllerPort}`).join(','),
  );
  properties.set(
    'listeners',
    `PLAINTEXT://${node.address},PROXIED://${HOST}:${node.proxiedPort},CONTROLLER://${HOST}:${node.controllerPort}`,
  );
  properties.set(
    'advertised.listeners',
    `PLAINTEXT://${node.address},PROXIED://${HOST}:${node.proxiedPort + PROXIED_ADVERTISED_OFFSET}`,
  );
  return properties;
};

/** The properties as a file's text. */
export const propertiesText = (properties: ReadonlyMap<string, string>): string =>
  `${[...properties].map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
