import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { heapOptions, KAFKA_VERSION } from '../../scripts/lib/broker.js';
import {
  CLUSTER_PROPERTIES,
  type KafkaNode,
  kafkaNodes,
  nodeProperties,
} from '../../scripts/lib/kafka-nodes.js';
import { PROXIED_LISTENER } from '../../scripts/lib/toxiproxy.js';

/**
 * The Kafka of docker-compose.yml and the one run on the local Java must be the same: same Kafka
 * version, KRaft nodes that are broker and controller, every property alike, for the single node
 * (service `kafka`) and for each node of the three-node cluster (profile `cluster`).
 */

const ROOT = join(import.meta.dirname, '../..');

interface ComposeService {
  image: string;
  ports?: string[];
  profiles?: string[];
  environment: Record<string, string | number>;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), {
  merge: true,
}) as { services: Record<string, ComposeService> };

/** `offsets.topic.replication.factor` is `KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR` in the image. */
const envName = (property: string) => `KAFKA_${property.toUpperCase().replaceAll('.', '_')}`;
/** `A://h:1,B://h:2` as `{ A: 'h:1', B: 'h:2' }`. */
const listenerMap = (value: unknown): Record<string, string> =>
  Object.fromEntries(
    String(value)
      .split(',')
      .map((entry) => entry.split('://') as [string, string]),
  );
const portOf = (address: string | undefined) => address?.split(':').at(-1);

/** Properties whose values differ by nature: the image's listeners have other names and hosts. */
const LISTENER_PROPERTIES = new Set([
  'listeners',
  'advertised.listeners',
  'controller.quorum.voters',
  'inter.broker.listener.name',
  'listener.security.protocol.map',
]);

const single = kafkaNodes(1);
const cluster = kafkaNodes(3);
const shapes: { name: string; service: string; nodes: KafkaNode[]; node: KafkaNode }[] = [
  { name: 'the single node', service: 'kafka', nodes: single, node: single[0] as KafkaNode },
  ...cluster.map((node) => ({
    name: `cluster node ${node.id}`,
    service: `kafka-${node.id}`,
    nodes: cluster,
    node,
  })),
];

describe.each(shapes)('the local Kafka, $name', ({ service, nodes, node }) => {
  const properties = nodeProperties(nodes, node);
  const kafka = compose.services[service];
  const environment = kafka?.environment ?? {};

  it('runs the official image at the version the Java path resolves', () => {
    expect(kafka?.image).toBe(`apache/kafka:${KAFKA_VERSION}`);
  });

  it('is a KRaft node, broker and controller, without ZooKeeper', () => {
    expect(properties.get('process.roles')).toBe('broker,controller');
    expect(environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(JSON.stringify(compose)).not.toMatch(/zookeeper/i);
  });

  it('sets every property the same way in both', () => {
    const differences = [...properties]
      .filter(([k]) => !LISTENER_PROPERTIES.has(k))
      .filter(([k, v]) => String(environment[envName(k)]) !== v)
      .map(([k, v]) => `${k}: ${v} (jars), ${environment[envName(k)]} (docker-compose.yml)`);
    expect(differences).toEqual([]);
  });

  it('has the same heap in both', () => {
    expect(environment.KAFKA_HEAP_OPTS).toBe(heapOptions(nodes.length).join(' '));
  });

  it('has the same controller quorum in both', () => {
    const ids = (voters: unknown) =>
      String(voters)
        .split(',')
        .map((v) => v.split('@')[0]);
    expect(ids(environment.KAFKA_CONTROLLER_QUORUM_VOTERS)).toEqual(
      ids(properties.get('controller.quorum.voters')),
    );
    expect(ids(properties.get('controller.quorum.voters'))).toEqual(nodes.map((n) => String(n.id)));
  });

  it('listens for the host on the same port in both, and the PROXIED listener alike', () => {
    const java = listenerMap(properties.get('listeners'));
    const javaAdvertised = listenerMap(properties.get('advertised.listeners'));
    const docker = listenerMap(environment.KAFKA_LISTENERS);
    const dockerAdvertised = listenerMap(environment.KAFKA_ADVERTISED_LISTENERS);
    expect(java.PLAINTEXT).toBe(node.address);
    expect(javaAdvertised.PLAINTEXT).toBe(node.address);
    expect(dockerAdvertised.HOST).toBe(node.address);
    expect(portOf(docker.HOST)).toBe(String(node.port));
    expect(kafka?.ports).toContain(`${node.address}:${node.port}`);
    expect(portOf(docker.PROXIED)).toBe(portOf(java.PROXIED));
    expect(dockerAdvertised.PROXIED).toBe(javaAdvertised.PROXIED);
    expect(kafka?.ports).toContain(`${java.PROXIED}:${portOf(java.PROXIED)}`);
    expect(properties.get('listener.security.protocol.map')).toContain('PROXIED:PLAINTEXT');
    expect(environment.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).toContain('PROXIED:PLAINTEXT');
  });
});

describe('the local Kafka', () => {
  it("puts node 1's PROXIED listener where the fault-injection proxy expects it", () => {
    const listeners = listenerMap(nodeProperties(single, single[0] as KafkaNode).get('listeners'));
    const advertised = listenerMap(
      nodeProperties(single, single[0] as KafkaNode).get('advertised.listeners'),
    );
    expect(listeners[PROXIED_LISTENER.name]).toBe(PROXIED_LISTENER.upstream);
    expect(advertised[PROXIED_LISTENER.name]).toBe(PROXIED_LISTENER.advertised);
  });

  it('replicates every topic, internal ones too, on three nodes: replication 3, min ISR 2', () => {
    const properties = nodeProperties(cluster, cluster[0] as KafkaNode);
    expect(properties.get('default.replication.factor')).toBe('3');
    expect(properties.get('min.insync.replicas')).toBe('2');
    expect(properties.get('offsets.topic.replication.factor')).toBe('3');
    expect(properties.get('transaction.state.log.replication.factor')).toBe('3');
    expect(properties.get('transaction.state.log.min.isr')).toBe('2');
    expect(properties.get('share.coordinator.state.topic.replication.factor')).toBe('3');
    // ...and nothing of it on one node, where a second replica cannot exist.
    const one = nodeProperties(single, single[0] as KafkaNode);
    expect(one.get('offsets.topic.replication.factor')).toBe('1');
    expect(one.get('default.replication.factor')).toBeUndefined();
    expect([...CLUSTER_PROPERTIES.keys()].length).toBeGreaterThan(0);
  });

  it('gives each node its own ports, node 1 on 9092, and the cluster only in a profile', () => {
    expect(cluster.map((n) => n.address)).toEqual([
      '127.0.0.1:9092',
      '127.0.0.1:9192',
      '127.0.0.1:9292',
    ]);
    const ports = cluster.flatMap((n) => [n.port, n.controllerPort, n.proxiedPort]);
    expect(new Set(ports).size).toBe(ports.length);
    for (const n of cluster)
      expect(compose.services[`kafka-${n.id}`]?.profiles).toEqual(['cluster']);
    expect(compose.services.kafka?.profiles).toBeUndefined();
  });

  it('ships a web UI beside the single node', () => {
    expect(compose.services['kafka-ui']?.image).toMatch(/kafka-ui/);
  });
});
