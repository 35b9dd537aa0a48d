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
  /**
   * Serve the plugin's state (`ServerlessOfflineKafkaState`) as JSON at
   * `GET http://127.0.0.1:<statePort>/state`, on the loopback interface only. Default: not served.
   */
  statePort?: number;
}

/** What every event source mapping does now (README, "State"): plain JSON data. */
export interface ServerlessOfflineKafkaState {
  /** The shape's version: 1. */
  version: 1;
  /** When the snapshot was taken, ms since the epoch. */
  at: number;
  mappings: MappingState[];
}

/** One mapping: its settings as the plugin reads them, and what it does now. */
export interface MappingState {
  functionKey: string;
  functionName: string;
  topic: string;
  groupId: string;
  batchSize: number;
  batchingWindowMs: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
  /** FilterCriteria's patterns, as JSON text. */
  filters: string[];
  mode: 'on-demand' | 'provisioned';
  provisionedPollers: { min: number; max: number } | null;
  /** -1: retried until it succeeds (on-demand mode) or the record expires. */
  maximumRetryAttempts: number;
  bisectBatchOnFunctionError: boolean;
  reportBatchItemFailures: boolean;
  /** `kafka://<topic>` or the destination's ARN; null without one. */
  onFailure: string | null;
  /** `connecting` until the poller joined the group (and again after a crash). */
  status: 'connecting' | 'consuming' | 'stopped';
  pollers: PollerState[];
}

/** One poller (a consumer in the mapping's group) and the partitions it owns. */
export interface PollerState {
  /** Its member id in the group, once joined. */
  memberId: string | null;
  /** The partitions the group assigned it at its last join. */
  assigned: number[];
  /** The assigned partitions it has fetched records of, with their state. */
  partitions: OwnedPartitionState[];
  /** Counters since start. */
  invocations: number;
  errors: number;
  recordsDelivered: number;
  /** Invocations that were retries of a failed batch. */
  retries: number;
  /** Records no filter matched: committed, never delivered. */
  recordsFilteredOut: number;
  /** Records Lambda gave up on, written to the on-failure destination. */
  recordsSentToDestination: number;
  /** Over the last 10 seconds. */
  invocationsPerSecond: number;
  lastError: { message: string; at: number } | null;
}

export interface OwnedPartitionState {
  partition: number;
  /** The partition's end offset when last fetched. */
  highWatermark: number;
  /** The last committed offset (the next to read), null before the first commit. */
  committed: number | null;
  lag: number;
  /** Records fetched, not yet in a batch. */
  waiting: number;
  inFlight: InFlightBatchState | null;
}

/** The partition's batch being delivered (at most one per partition). */
export interface InFlightBatchState {
  partition: number;
  /** null when every record of the batch was filtered out. */
  firstOffset: number | null;
  lastOffset: number;
  records: number;
  /** When its event started, ms since the epoch. */
  since: number;
  /** Invocations of its event so far. */
  attempts: number;
  /** The last invocation's error, while it is being retried. */
  lastError: string | null;
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
  /** What every event source mapping does now. */
  state(): ServerlessOfflineKafkaState;
}
export = ServerlessOfflineKafka;
