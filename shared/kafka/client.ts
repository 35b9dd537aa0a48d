import type { Logger } from '@aws-lambda-powertools/logger';
import type { Kafka, KafkaConfig } from 'kafkajs';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import { KAFKA_LOG_LEVEL, kafkaLogCreator } from '../logger.js';
import {
  createBrokerDiscovery,
  createMskTokenProvider,
  type MskApi,
  type SignToken,
} from './msk.js';

/** The broker used when `KAFKA_BROKERS` is unset and auth is `none`. */
export const LOCAL_BROKERS = ['127.0.0.1:9092'] as const;

/** Timeouts and retries that keep every Kafka call bounded to a few seconds. */
export const KAFKA_CLIENT_DEFAULTS = {
  CONNECTION_TIMEOUT_MS: 1_000,
  AUTHENTICATION_TIMEOUT_MS: 3_000,
  REQUEST_TIMEOUT_MS: 5_000,
  RETRY: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 5 },
} as const;

/** Bounds of the MSK API call that looks the brokers up, so that a VPC without a route fails fast. */
export const MSK_API_DEFAULTS = {
  CONNECTION_TIMEOUT_MS: 1_000,
  REQUEST_TIMEOUT_MS: 3_000,
  MAX_ATTEMPTS: 3,
} as const;

/** What `kafkaConfig` reaches AWS with; tests pass fakes. */
export interface KafkaDependencies {
  /** Signs MSK IAM tokens (`aws-msk-iam-sasl-signer-js` by default). */
  readonly sign?: SignToken;
  /** The MSK API client of `region` (`@aws-sdk/client-kafka` by default), made on first lookup. */
  readonly mskClient?: (region: string) => MskApi | Promise<MskApi>;
  /** Retries of the client's own calls (connecting, metadata) instead of `KAFKA_CLIENT_DEFAULTS`. */
  readonly retry?: KafkaConfig['retry'];
}

// The signer and the MSK API client are loaded when first used, not at module init: only IAM
// auth signs, and only IAM auth without KAFKA_BROKERS looks the brokers up, once per container.
// Requiring them eagerly was most of the producer's init (@aws-sdk/client-kafka alone, about
// half). In the bundle, the signer's code runs only then; serverless.yml's esbuild setting
// `supported: { dynamic-import: false }` makes the import() of the external SDK a require()
// at that moment (the SDK's CommonJS build, as every other import of it).

const signWithMskSigner: SignToken = async (options) =>
  (await import('aws-msk-iam-sasl-signer-js')).generateAuthToken(options);

const defaultMskClient = async (region: string): Promise<MskApi> => {
  const { KafkaClient } = await import('@aws-sdk/client-kafka');
  return new KafkaClient({
    region,
    maxAttempts: MSK_API_DEFAULTS.MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: MSK_API_DEFAULTS.CONNECTION_TIMEOUT_MS,
      requestTimeout: MSK_API_DEFAULTS.REQUEST_TIMEOUT_MS,
    },
  });
};

/** `list` in a random order (Fisher-Yates). */
const shuffled = <T>(list: readonly T[], random: () => number): T[] => {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
};

/**
 * The seed brokers as kafkajs should take them: in a new random order for each connection.
 * kafkajs tries the seeds in the order given, from the first, for every new client, producer or
 * consumer (src/cluster/connectionPoolBuilder.js: the randomisation of kafkajs#632 was reverted,
 * kafkajs#1607). With the first broker down (a node restarting, as in MSK's patching), each new
 * producer's first attempt fails on it, and one that connects with few retries (the publisher:
 * none) never reaches the others. A random start, as the Java client's least-loaded node, spreads
 * new connections over the live brokers.
 */
export const seedBrokers = (
  list: readonly string[] | (() => Promise<string[]>),
  random: () => number = Math.random,
): (() => Promise<string[]>) =>
  typeof list === 'function'
    ? async () => shuffled(await list(), random)
    : async () => shuffled(list, random);

/**
 * The kafkajs configuration: plaintext for a local broker, or TLS with SASL OAUTHBEARER (MSK IAM)
 * when `auth` is `iam`. Then the brokers are `brokers` when given, else looked up from the cluster
 * ARN on first connection (once per container), and tokens are signed for the cluster's region.
 */
export const kafkaConfig = (
  kafka: Config['kafka'],
  logger: Logger,
  {
    sign = signWithMskSigner,
    mskClient = defaultMskClient,
    retry = KAFKA_CLIENT_DEFAULTS.RETRY,
  }: KafkaDependencies = {},
): KafkaConfig => {
  const base: KafkaConfig = {
    clientId: kafka.clientId,
    brokers: seedBrokers(kafka.brokers ?? LOCAL_BROKERS),
    connectionTimeout: KAFKA_CLIENT_DEFAULTS.CONNECTION_TIMEOUT_MS,
    authenticationTimeout: KAFKA_CLIENT_DEFAULTS.AUTHENTICATION_TIMEOUT_MS,
    requestTimeout: KAFKA_CLIENT_DEFAULTS.REQUEST_TIMEOUT_MS,
    retry: { ...retry },
    logLevel: KAFKA_LOG_LEVEL.WARN,
    logCreator: kafkaLogCreator(logger),
  };
  if (kafka.auth === 'none') return base;

  const region = kafka.region ?? regionOf(kafka.mskClusterArn);
  if (!region)
    throw new ConfigError('MSK IAM auth needs AWS_REGION or a cluster ARN to sign tokens');
  let brokers: KafkaConfig['brokers'];
  if (kafka.brokers) brokers = seedBrokers(kafka.brokers);
  else if (kafka.mskClusterArn) {
    brokers = seedBrokers(createBrokerDiscovery(kafka.mskClusterArn, () => mskClient(region)));
  } else {
    throw new ConfigError(
      'MSK IAM auth needs KAFKA_BROKERS or MSK_CLUSTER_ARN to find the brokers',
    );
  }
  return {
    ...base,
    brokers,
    ssl: true,
    sasl: { mechanism: 'oauthbearer', oauthBearerProvider: createMskTokenProvider(region, sign) },
  };
};

/** A kafkajs client, made when first asked for. */
export type KafkaSource = () => Promise<Kafka>;

/**
 * A kafkajs client configured by `kafkaConfig`, made on the first call (kafkajs is loaded then)
 * and the same one afterwards; nothing connects until first use. The configuration is checked
 * now, so that a bad one still stops the function at start. The consumer needs Kafka only to
 * dead-letter a poison record: its cold start does not load kafkajs.
 */
export const createKafka = (
  kafka: Config['kafka'],
  logger: Logger,
  dependencies?: KafkaDependencies,
): KafkaSource => {
  const config = kafkaConfig(kafka, logger, dependencies);
  let client: Promise<Kafka> | undefined;
  return () => {
    client ??= import('kafkajs').then(({ default: kafkajs }) => new kafkajs.Kafka(config));
    return client;
  };
};

/** The region field of an ARN (`arn:aws:kafka:<region>:...`). */
export const regionOf = (arn: string | undefined): string | undefined =>
  arn?.split(':')[3] || undefined;
