import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KAFKA_VERSION } from '../../scripts/lib/broker.js';
import { PROXIED_LISTENER } from '../../scripts/lib/toxiproxy.js';

/**
 * The broker from docker-compose.yml and the one run on the local Java must be the same: same
 * Kafka version, KRaft single node, no topic auto-creation, replication 1 for internal topics.
 */

const ROOT = join(import.meta.dirname, '../..');

interface ComposeService {
  image: string;
  ports?: string[];
  environment: Record<string, string | number>;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
};
const properties = new Map(
  readFileSync(join(ROOT, 'scripts/kafka/server.properties'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#'))
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at), line.slice(at + 1)] as const;
    }),
);
const kafka = compose.services.kafka;
const environment = kafka?.environment ?? {};
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

describe('the local broker', () => {
  it('runs the official image at the version the Java path resolves', () => {
    expect(kafka?.image).toBe(`apache/kafka:${KAFKA_VERSION}`);
  });

  it('is one KRaft node, broker and controller, without ZooKeeper', () => {
    expect(properties.get('process.roles')).toBe('broker,controller');
    expect(environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(JSON.stringify(compose)).not.toMatch(/zookeeper/i);
  });

  it.each([
    'auto.create.topics.enable',
    'offsets.topic.replication.factor',
    'transaction.state.log.replication.factor',
    'transaction.state.log.min.isr',
    'transaction.abort.timed.out.transaction.cleanup.interval.ms',
    'share.coordinator.state.topic.replication.factor',
    'group.initial.rebalance.delay.ms',
  ])('sets %s the same way in both', (property) => {
    expect(properties.get(property)).toBeDefined();
    expect(String(environment[envName(property)])).toBe(properties.get(property));
  });

  it('has the same PROXIED listener in both, advertised where the fault-injection proxy listens', () => {
    const { name, upstream, advertised } = PROXIED_LISTENER;
    const java = listenerMap(properties.get('listeners'));
    const javaAdvertised = listenerMap(properties.get('advertised.listeners'));
    const docker = listenerMap(environment.KAFKA_LISTENERS);
    const dockerAdvertised = listenerMap(environment.KAFKA_ADVERTISED_LISTENERS);
    expect(java[name]).toBe(upstream);
    expect(javaAdvertised[name]).toBe(advertised);
    expect(portOf(docker[name])).toBe(portOf(upstream));
    expect(dockerAdvertised[name]).toBe(advertised);
    expect(kafka?.ports).toContain(`${upstream}:${portOf(upstream)}`);
    expect(properties.get('listener.security.protocol.map')).toContain(`${name}:PLAINTEXT`);
    expect(environment.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).toContain(`${name}:PLAINTEXT`);
  });

  it('listens on 127.0.0.1:9092 for the host, and ships a web UI', () => {
    expect(kafka?.ports).toContain('127.0.0.1:9092:9092');
    expect(listenerMap(properties.get('advertised.listeners')).PLAINTEXT).toBe('127.0.0.1:9092');
    expect(compose.services['kafka-ui']?.image).toMatch(/kafka-ui/);
  });
});
