import type { Logger } from '@aws-lambda-powertools/logger';
import { KafkaClient } from '@aws-sdk/client-kafka';
import { generateAuthToken } from 'aws-msk-iam-sasl-signer-js';
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import type { Config } from '../config.js';
import { kafkaLogCreator } from '../logger.js';
import { createBrokerDiscovery, createMskTokenProvider } from './msk.js';

/** The broker used when `KAFKA_BROKERS` is unset and auth is `none`. */
export const LOCAL_BROKERS = ['127.0.0.1:9092'] as const;

/** Timeouts and retries that keep every Kafka call bounded to a few seconds. */
export const KAFKA_CLIENT_DEFAULTS = {
  CONNECTION_TIMEOUT_MS: 1_000,
  AUTHENTICATION_TIMEOUT_MS: 3_000,
  REQUEST_TIMEOUT_MS: 5_000,
  RETRY: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 5 },
} as const;

/**
 * Creates a kafkajs client: plaintext for a local broker, or TLS with SASL OAUTHBEARER (MSK IAM)
 * when `auth` is `iam`, in which case brokers come from `brokers` or are looked up from the
 * cluster ARN on first connection.
 */
export const createKafka = (kafka: Config['kafka'], logger: Logger): Kafka => {
  const base: KafkaConfig = {
    clientId: kafka.clientId,
    brokers: [...(kafka.brokers ?? LOCAL_BROKERS)],
    connectionTimeout: KAFKA_CLIENT_DEFAULTS.CONNECTION_TIMEOUT_MS,
    authenticationTimeout: KAFKA_CLIENT_DEFAULTS.AUTHENTICATION_TIMEOUT_MS,
    requestTimeout: KAFKA_CLIENT_DEFAULTS.REQUEST_TIMEOUT_MS,
    retry: { ...KAFKA_CLIENT_DEFAULTS.RETRY },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
  };
  if (kafka.auth === 'none') return new Kafka(base);

  const region = kafka.region ?? regionOf(kafka.mskClusterArn);
  if (!region) throw new Error('MSK IAM auth needs AWS_REGION or a cluster ARN to sign tokens');
  const brokers =
    kafka.brokers || !kafka.mskClusterArn
      ? [...(kafka.brokers ?? [])]
      : createBrokerDiscovery(kafka.mskClusterArn, new KafkaClient({ region }));
  return new Kafka({
    ...base,
    brokers,
    ssl: true,
    sasl: {
      mechanism: 'oauthbearer',
      oauthBearerProvider: createMskTokenProvider(region, generateAuthToken),
    },
  });
};

/** The region field of an ARN (`arn:aws:kafka:<region>:...`). */
export const regionOf = (arn: string | undefined): string | undefined =>
  arn?.split(':')[3] || undefined;
