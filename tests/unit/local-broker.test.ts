import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KAFKA_VERSION } from '../../scripts/lib/broker.js';

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
    'share.coordinator.state.topic.replication.factor',
    'group.initial.rebalance.delay.ms',
  ])('sets %s the same way in both', (property) => {
    expect(properties.get(property)).toBeDefined();
    expect(String(environment[envName(property)])).toBe(properties.get(property));
  });

  it('listens on 127.0.0.1:9092 for the host, and ships a web UI', () => {
    expect(kafka?.ports).toContain('127.0.0.1:9092:9092');
    expect(properties.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:9092');
    expect(compose.services['kafka-ui']?.image).toMatch(/kafka-ui/);
  });
});
