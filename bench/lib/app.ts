import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type Config, loadConfig } from '../../shared/config.js';
import { ROOT } from './results.js';

/**
 * What our functions are built from in the benchmarks: the configuration they would read from
 * the environment, and the sample events of `events/`.
 */

/** `config().kafka` for a plaintext broker list, as `KAFKA_BROKERS=...` gives it. */
export const kafkaSettings = (brokers: readonly string[]): Config['kafka'] =>
  loadConfig({ KAFKA_BROKERS: brokers.join(',') }).kafka;

/** A sample event from `events/`, parsed fresh. */
export const loadEvent = <T = unknown>(name: string): T =>
  JSON.parse(readFileSync(join(ROOT, 'events', name), 'utf8')) as T;

/** `events/send-json.json` with another body (a JSON array for a batch). */
export const sendEvent = (body: unknown): APIGatewayProxyEventV2 => {
  const event = loadEvent<APIGatewayProxyEventV2>('send-json.json');
  event.body = JSON.stringify(body);
  event.headers = { ...event.headers, 'content-length': String(Buffer.byteLength(event.body)) };
  return event;
};

/** A Lambda context with a request id, as the handlers read it. */
export const lambdaContext = (n: number) => ({ awsRequestId: `bench-${n}` });
