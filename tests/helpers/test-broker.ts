import type { Kafka } from 'kafkajs';
import { inject } from 'vitest';
import { kafkaClient } from './kafka.js';

/** The brokers the global setup (tests/setup/broker.ts) made sure of. */
export const brokers = (): string[] => inject('brokers');

/** The run's local Kafka (its nodes and folder), unless `KAFKA_BROKERS` named another. */
export const localKafkaOfRun = () => inject('localKafka');

/** A quiet client of the test run's brokers, with a few retries. */
export const testKafka = (clientId = 'tests'): Kafka =>
  kafkaClient(brokers(), clientId, { retries: 3 });
