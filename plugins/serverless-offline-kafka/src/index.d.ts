/** Options of `custom.serverless-offline-kafka` in serverless.yml (see README.md). */
export interface ServerlessOfflineKafkaOptions {
  /** Broker list to consume from: a comma-separated string or a list. Default `127.0.0.1:9092`. */
  brokers?: string | string[];
  /** `false` starts no event source. Default `true`. */
  enabled?: boolean;
  /** kafkajs client id. Default `serverless-offline-kafka`. */
  clientId?: string;
  /** First wait before retrying a failed batch, in ms; doubles each time. Default 1000. */
  retryInitialDelayMs?: number;
  /** Longest wait between retries, in ms. Default 5000. */
  retryMaxDelayMs?: number;
  /** On Ctrl-C, how long in-flight invocations may take to finish, in ms. Default 10000. */
  shutdownTimeoutMs?: number;
  /** Where SQS, SNS and S3 on-failure destinations are written. Default `.local/kafka-destinations`. */
  destinationsDir?: string;
  /** How often mappings with MetricsConfig print their metrics, in ms (0: never). Default 60000. */
  metricsIntervalMs?: number;
  /**
   * The real clusters mappings connect to, as Lambda would (README, "Secured clusters"), keyed
   * by an `msk` event's `arn` or one of a `kafka` event's `bootstrapServers`. Mappings of other
   * clusters read `brokers` in plaintext.
   */
  clusters?: Record<string, ServerlessOfflineKafkaCluster | null>;
  /**
   * A JSON file, keyed by secret ARN, with the secrets mappings name (as Secrets Manager holds
   * them); `SERVERLESS_OFFLINE_KAFKA_SECRETS` holds the same and wins. Keep it out of git.
   * Default `.local/kafka-secrets.json`.
   */
  secretsFile?: string;
  /**
   * Where mappings with an AWS Glue schema registry read it (such as a local moto server). Default:
   * AWS Glue in the registry ARN's region, with the developer's AWS credentials.
   */
  glueEndpoint?: string;
}

/** One entry of `clusters`. */
export interface ServerlessOfflineKafkaCluster {
  /** Where to connect: required for an msk event; a kafka event's own bootstrapServers by default. */
  brokers?: string | string[];
  /**
   * For an msk event without a secret: what is active on the cluster (IAM, unauthenticated TLS,
   * or plaintext). Default `plaintext`.
   */
  auth?: 'iam' | 'tls' | 'plaintext';
  /** The AWS profile that signs IAM tokens. Default: AWS's default credential chain. */
  awsProfile?: string;
}

/** The serverless framework plugin class. */
declare class ServerlessOfflineKafka {
  constructor(serverless: unknown, cliOptions: Record<string, unknown>, utils?: { log: unknown });
  hooks: Record<string, () => Promise<void>>;
}
export = ServerlessOfflineKafka;
