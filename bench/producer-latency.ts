import { runFigure } from './lib/figure.js';
import { defineProducerLatency } from './lib/producer-latency.js';

/**
 * Producer warm latency on loopback: the handler and a raw kafkajs send talk to the local broker
 * directly (bench/lib/producer-latency.ts says what is measured).
 */

export const measureProducerLatency = defineProducerLatency({
  id: 'producer-latency',
  title: 'Producer warm latency',
  figure: 'producer warm latency',
  route: async (brokers) => ({
    brokers,
    facts: [`Both clients talk to the broker at ${brokers.join(',')} directly (loopback).`],
    close: async () => undefined,
  }),
});

await runFigure(import.meta.url, measureProducerLatency);
