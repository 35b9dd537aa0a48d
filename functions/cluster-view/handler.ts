import assets from 'virtual:cluster-assets';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type { Admin, Kafka } from 'kafkajs';
import { NodeBook, readClusterView } from '../../shared/cluster-view/cluster-view.js';
import { readEmulatorState } from '../../shared/cluster-view/emulator-state.js';
import { placeKey } from '../../shared/cluster-view/key-placement.js';
import { RECORD_LIMITS, readLatestRecords } from '../../shared/cluster-view/records.js';
import { config } from '../../shared/config.js';
import { ConfigError, ValidationError } from '../../shared/errors.js';
import { httpHandler, json, routeOf } from '../../shared/http.js';
import { createKafka, LOCAL_BROKERS } from '../../shared/kafka/client.js';
import { createLogger } from '../../shared/logger.js';
import { serveFiles } from '../../shared/web/page.js';

/**
 * The local cluster page (web/cluster/, README "See the cluster"): `GET /cluster` and its assets,
 * `GET /cluster/state` (brokers, topics, partitions, consumer groups and lag, the emulator's event
 * source mappings), `GET /cluster/keys/{key}?topic=` (the partition the producer puts a key on) and
 * `GET /cluster/records?topic=&partition=&limit=&key=` (a partition's latest records, or a key's,
 * shared/cluster-view/records.ts). Local stage only (custom.localOnlyFunctions: a packaging test proves an AWS stage has no
 * such route), and it answers loopback callers only.
 */

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Pick<Context, 'awsRequestId'>,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Longest any one question to the broker or the emulator may take. */
const READ_TIMEOUT_MS = 1_500;
const PAGE_PREFIX = '/cluster';
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const MAX_KEY_CHARS = 256;
/** Kafka's longest topic name. */
const MAX_TOPIC_CHARS = 249;

const invalidKey = () =>
  new ValidationError([
    {
      field: 'key',
      message: `expected a key of 1 to ${MAX_KEY_CHARS} characters, such as a user id (2)`,
    },
  ]);

/** A whole number from `min` to `max` written in decimal, or `undefined`. */
const wholeNumber = (text: string | undefined, min: number, max: number): number | undefined => {
  if (text === undefined || !/^\d{1,9}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
};

export interface ClusterViewHandlerDependencies {
  readonly admin: () => Promise<Admin>;
  readonly kafka: () => Promise<Kafka>;
  readonly nodes: NodeBook;
  readonly stateUrl: string | undefined;
  readonly defaultTopic: string;
  readonly logger: ReturnType<typeof createLogger>;
}

/** Builds the HTTP handler around its dependencies (tests pass fakes). */
export const createHandler = (deps: ClusterViewHandlerDependencies): Handler =>
  httpHandler(deps, async (event: APIGatewayProxyEventV2) => {
    // A page about this machine's broker, for this machine: never for another host, whatever
    // address serverless-offline was told to listen on.
    if (!LOOPBACK.has(event.requestContext?.http?.sourceIp ?? '')) {
      return json(403, {
        error: { code: 'forbidden', message: 'The cluster page answers this machine only.' },
      });
    }
    const route = routeOf(event);
    if (route === 'GET /cluster/state') {
      const view = await readClusterView({
        admin: await deps.admin(),
        nodes: deps.nodes,
        emulator: () => readEmulatorState(deps.stateUrl, READ_TIMEOUT_MS),
        timeoutMs: READ_TIMEOUT_MS,
      });
      return json(200, view, { 'cache-control': 'no-store' });
    }
    if (route === 'GET /cluster/keys/{key}') {
      const key = event.pathParameters?.key ?? '';
      const topic = event.queryStringParameters?.topic ?? deps.defaultTopic;
      if (key.length === 0 || key.length > MAX_KEY_CHARS) throw invalidKey();
      const admin = await deps.admin();
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
      const partitions = metadata?.topics[0]?.partitions.length ?? 0;
      if (partitions === 0) {
        throw new ValidationError([
          { field: 'topic', message: `expected a topic on the broker; ${topic} is not there` },
        ]);
      }
      return json(200, placeKey(key, topic, partitions), { 'cache-control': 'no-store' });
    }
    if (route === 'GET /cluster/records') {
      const query = event.queryStringParameters ?? {};
      const topic = query.topic ?? deps.defaultTopic;
      if (topic.length === 0 || topic.length > MAX_TOPIC_CHARS) {
        throw new ValidationError([
          {
            field: 'topic',
            message: `expected a topic name of 1 to ${MAX_TOPIC_CHARS} characters`,
          },
        ]);
      }
      const partition = wholeNumber(query.partition, 0, 1_000_000);
      if (partition === undefined) {
        throw new ValidationError([
          { field: 'partition', message: 'expected a partition number (0, 1, 2...)' },
        ]);
      }
      const limit =
        query.limit === undefined
          ? RECORD_LIMITS.DEFAULT_RECORDS
          : wholeNumber(query.limit, 1, RECORD_LIMITS.MAX_RECORDS);
      if (limit === undefined) {
        throw new ValidationError([
          { field: 'limit', message: `expected 1 to ${RECORD_LIMITS.MAX_RECORDS} records` },
        ]);
      }
      const key = query.key;
      if (key !== undefined && (key.length === 0 || key.length > MAX_KEY_CHARS)) {
        throw invalidKey();
      }
      const records = await readLatestRecords(
        { kafka: deps.kafka, admin: deps.admin },
        { topic, partition, limit, ...(key === undefined ? {} : { key }) },
      );
      return json(200, records, { 'cache-control': 'no-store' });
    }
    const path = (event.rawPath ?? '').slice(PAGE_PREFIX.length) || '/';
    return serveFiles(path, assets, { config: {}, connect: [], home: PAGE_PREFIX });
  });

// Created once per container and reused by warm invocations.
const settings = config();
if (settings.identity.mode !== 'local') {
  throw new ConfigError('Invalid configuration: the cluster page exists in AUTH_MODE=local only');
}
const logger = createLogger(settings.serviceName);
const kafka = createKafka(settings.kafka, logger);
let admin: Promise<Admin> | undefined;

export const handler: Handler = createHandler({
  admin: () => {
    // Few retries: a node that is down is reported as down, not waited for.
    admin ??= kafka().then((k) => k.admin({ retry: { retries: 1, maxRetryTime: 500 } }));
    return admin;
  },
  kafka,
  nodes: new NodeBook(settings.kafka.brokers ?? LOCAL_BROKERS),
  stateUrl: settings.kafkaStateUrl,
  defaultTopic: settings.topics.notifications,
  logger,
});
