import type { TestProject } from 'vitest/node';
import { ensureBroker, type LocalKafka, stopBroker } from '../../scripts/lib/broker.js';
import { config } from '../../shared/config.js';

declare module 'vitest' {
  export interface ProvidedContext {
    brokers: string[];
    /** The local Kafka the run uses, unless `KAFKA_BROKERS` named another. */
    localKafka: LocalKafka | null;
  }
}

/** The Vitest projects whose tests need a broker. */
const NEEDS_BROKER = new Set(['integration', 'e2e', 'browser', 'faults']);

/**
 * Makes sure a real broker answers before integration and end-to-end tests: `KAFKA_BROKERS` if
 * set, else a running local broker, else one started here (and stopped when the tests end). A run
 * of other projects only (`--project unit`) starts nothing.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!project.vitest.projects.some((p) => NEEDS_BROKER.has(p.name))) {
    project.provide('brokers', []);
    project.provide('localKafka', null);
    return async () => undefined;
  }
  const broker = await ensureBroker(config().kafka.brokers, config().localKafkaNodes);
  project.provide('brokers', broker.brokers);
  project.provide('localKafka', broker.local ?? null);
  return async () => {
    if (broker.started) await stopBroker(broker.local);
  };
}
