import type { TestProject } from 'vitest/node';
import { ensureBroker, stopBroker } from '../../scripts/lib/broker.js';
import { config } from '../../shared/config.js';

declare module 'vitest' {
  export interface ProvidedContext {
    brokers: string[];
  }
}

/**
 * Makes sure a real broker answers before integration and end-to-end tests: `KAFKA_BROKERS` if
 * set, else a running local broker, else one started here (and stopped when the tests end).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const broker = await ensureBroker(config().kafka.brokers);
  project.provide('brokers', broker.brokers);
  return async () => {
    if (broker.started) await stopBroker();
  };
}
