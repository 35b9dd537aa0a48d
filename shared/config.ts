import * as z from 'zod/mini';
import type { DynamoDbEndpoint } from './aws/dynamodb-client.js';
import { ConfigError } from './errors.js';
import { type IdentitySettings, identitySettings } from './identity/settings.js';
import { describeIssues } from './models/issues.js';
import { DEFAULT_USERS, type User, UserDirectorySchema } from './models/user.js';
import type { PageConfig } from './web/page.js';

/**
 * Configuration, read from the environment once and validated. Nothing else reads
 * `process.env`. A bad value fails fast with the variable's name and what is expected. What the
 * values mean to a part of the service that has defaults of its own is that part's to say (the
 * identity's: `identitySettings`): its settings live with it, and it never imports this module.
 */

const positiveInt = (fallback: number) =>
  z._default(z.coerce.number().check(z.int(), z.positive()), fallback);
const text = (fallback: string) => z._default(z.string().check(z.minLength(1)), fallback);

/** A comma-separated list, each item trimmed, empty items dropped. */
const splitList = () =>
  z.transform((s: string) =>
    s
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  );

const brokerList = z.pipe(
  splitList(),
  z
    .array(z.string().check(z.regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')))
    .check(z.minLength(1, 'expected at least one host:port')),
);

const commaList = z.pipe(splitList(), z.array(z.string()));

const flag = z._default(z.enum(['true', 'false']), 'false');

const tableName = (fallback: string) =>
  z._default(
    z
      .string()
      .check(
        z.regex(
          /^[A-Za-z0-9_.-]{3,255}$/,
          'expected a DynamoDB table name: 3 to 255 letters, digits, _, . or -',
        ),
      ),
    fallback,
  );

const userDirectory = z.pipe(
  z.transform((input: string, ctx) => {
    try {
      return JSON.parse(input) as unknown;
    } catch {
      ctx.issues.push({ code: 'custom', message: 'expected JSON', input });
      return z.NEVER;
    }
  }),
  UserDirectorySchema,
);

const EnvSchema = z.object({
  SERVICE_NAME: text('notifications'),
  /** The CloudWatch namespace of the metrics (Powertools' variable); the service name when unset. */
  POWERTOOLS_METRICS_NAMESPACE: z.optional(z.string().check(z.minLength(1))),
  /** Comma-separated `host:port` list. Unset with IAM auth: brokers are looked up from the cluster ARN. */
  KAFKA_BROKERS: z.optional(brokerList),
  /**
   * How many nodes the local Kafka started by `npm start`, `npm run kafka:start` and `npm test`
   * has: 1, or 3 (replicated, as on Amazon MSK). Ignored when `KAFKA_BROKERS` is set.
   */
  LOCAL_KAFKA_BROKERS: z._default(z.enum(['1', '3']), '1'),
  /** `none`: plaintext (local broker). `iam`: TLS + SASL OAUTHBEARER with MSK IAM tokens. */
  KAFKA_AUTH: z._default(z.enum(['none', 'iam']), 'none'),
  MSK_CLUSTER_ARN: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/.+/,
          'expected an MSK cluster ARN',
        ),
      ),
  ),
  AWS_REGION: z.optional(z.string().check(z.minLength(1))),
  KAFKA_CLIENT_ID: text('notifications'),
  NOTIFICATIONS_TOPIC: text('notifications'),
  NOTIFICATIONS_TOPIC_PARTITIONS: positiveInt(3),
  NOTIFICATIONS_DLQ_TOPIC: text('notifications.dlq'),
  /**
   * Longest a publish may take, connection included, before the request gets a 503. Short
   * enough that a client learns of a broker outage within 3 s; a healthy broker answers in
   * milliseconds.
   */
  KAFKA_SEND_TIMEOUT_MS: positiveInt(2500),
  /** JSON array of `{"id", "name"}` replacing the demo's four users. */
  USERS: z.optional(z.pipe(z.string(), userDirectory)),
  /** The DynamoDB table holding each user's received notifications. */
  INBOX_TABLE: tableName('notifications-inbox'),
  /** The DynamoDB table of open WebSocket connections. */
  CONNECTIONS_TABLE: tableName('notifications-connections'),
  /**
   * The WebSocket API's `@connections` endpoint: `https://<api-id>.execute-api.<region>.amazonaws.com/<stage>`
   * on AWS, serverless-offline's `http://127.0.0.1:3001` offline. Needed by the functions that push.
   */
  WEBSOCKET_ENDPOINT: z.optional(
    z.url({
      protocol: /^https?$/,
      error: 'expected an http(s) URL such as http://127.0.0.1:3001',
    }),
  ),
  /**
   * The Kafka emulator's state (plugins/serverless-offline-kafka, "State"), read by the local
   * cluster page: `http://127.0.0.1:<statePort>/state`. Offline only.
   */
  KAFKA_STATE_URL: z.optional(
    z.url({
      protocol: /^http$/,
      error: 'expected an http URL such as http://127.0.0.1:3003/state',
    }),
  ),
  /** Where the page connects: `ws://127.0.0.1:3001` offline, the WebSocket API's `wss://` URL. */
  WEBSOCKET_URL: z.optional(
    z.url({ protocol: /^wss?$/, error: 'expected a ws(s) URL such as ws://127.0.0.1:3001' }),
  ),
  /** How the page gets a token: the local-only token route, or the stack's Cognito user pool. */
  PAGE_SIGN_IN: z._default(z.enum(['local', 'cognito', 'token']), 'local'),
  /** The Cognito app client the page signs in with (`PAGE_SIGN_IN=cognito`). */
  PAGE_COGNITO_CLIENT_ID: z.optional(z.string().check(z.regex(/^[A-Za-z0-9+]{1,128}$/))),
  /** The DynamoDB table of Idempotency-Keys (Powertools Idempotency). */
  IDEMPOTENCY_TABLE: tableName('notifications-idempotency'),
  /** Set to `true` by `sls invoke local`. */
  IS_LOCAL: flag,
  /** `true` when the consumer's mapping has `FunctionResponseTypes: [ReportBatchItemFailures]`. */
  PARTIAL_BATCH_RESPONSE: flag,
  /**
   * Who vouches for the caller. `gateway` (AWS stages): API Gateway's JWT authorizer verified the
   * token and the function reads its claims. `local` (the local stage): the function verifies the
   * bearer token itself against the local issuer, because serverless-offline does not.
   */
  AUTH_MODE: z._default(z.enum(['gateway', 'local']), 'gateway'),
  /** The claim that carries the user's directory id (Cognito access tokens: `username`). */
  AUTH_USER_ID_CLAIM: text('username'),
  /** `local` mode: the issuer, audiences and scopes of the tokens accepted. */
  AUTH_ISSUER: z.optional(z.string().check(z.minLength(1))),
  AUTH_AUDIENCE: z.optional(commaList),
  AUTH_SCOPES: z.optional(commaList),
  /**
   * The `token_use` claim a token must carry: `access` (Cognito's and the local issuer's access
   * tokens), or `any` for another issuer that does not set the claim.
   */
  AUTH_TOKEN_USE: z._default(z.enum(['access', 'any']), 'access'),
  /** `local` mode: the issuer's public keys (a JWKS document). */
  AUTH_JWKS_FILE: z.optional(z.string().check(z.minLength(1))),
  /**
   * The issuer's JWKS URL, for the one route API Gateway cannot authorize with a JWT authorizer:
   * WebSocket `$connect` on AWS, which verifies the token itself (with AUTH_ISSUER, AUTH_AUDIENCE).
   */
  AUTH_JWKS_URL: z.optional(
    z.url({ protocol: /^https$/, error: 'expected an https URL of a JWKS document' }),
  ),
  /** The demo's tokenless `POST /send` and `GET /notifications/{userId}` (local stage only). */
  DEMO_MODE: flag,
  /** Set to `true` by serverless-offline. */
  IS_OFFLINE: flag,
  /**
   * The per-sender limit (shared/limits/send-rate.ts): notifications one sender may send per
   * window of `SEND_RATE_WINDOW_S` seconds; 0 turns it off.
   */
  /** How long a notification is kept in its recipient's inbox (DynamoDB's time to live). */
  INBOX_RETENTION_DAYS: z._default(
    z.coerce.number().check(z.int(), z.positive(), z.lte(3_650)),
    90,
  ),
  SEND_RATE_LIMIT: z._default(z.coerce.number().check(z.int(), z.nonnegative()), 600),
  SEND_RATE_WINDOW_S: z._default(z.coerce.number().check(z.int(), z.positive(), z.lte(3_600)), 60),
  /** A DynamoDB endpoint to use instead of AWS's, such as dynalite offline. */
  DYNAMODB_ENDPOINT: z.optional(
    z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as http://127.0.0.1:8000' }),
  ),
});

export type Env = Readonly<Record<string, string | undefined>>;

export interface Config {
  readonly serviceName: string;
  readonly metrics: {
    readonly namespace: string;
  };
  readonly kafka: {
    readonly clientId: string;
    /**
     * `KAFKA_BROKERS`, or `undefined` when unset: then the local broker (auth `none`) or the
     * cluster's brokers looked up from `mskClusterArn` (auth `iam`).
     */
    readonly brokers: readonly string[] | undefined;
    readonly auth: 'none' | 'iam';
    readonly mskClusterArn: string | undefined;
    readonly region: string | undefined;
    readonly sendTimeoutMs: number;
  };
  /** The local Kafka the scripts and tests start (`LOCAL_KAFKA_BROKERS`): how many nodes. */
  readonly localKafkaNodes: 1 | 3;
  /** `KAFKA_STATE_URL`: where the local cluster page reads the Kafka emulator's state. */
  readonly kafkaStateUrl: string | undefined;
  readonly topics: {
    readonly notifications: string;
    readonly partitions: number;
    readonly deadLetter: string;
  };
  readonly users: readonly User[];
  /** Where every table lives: `DYNAMODB_ENDPOINT`, or `undefined` for AWS's endpoint in `region`. */
  readonly dynamodb: DynamoDbEndpoint;
  readonly inbox: {
    readonly tableName: string;
    /** Days a notification is kept (its item's time to live). */
    readonly retentionDays: number;
  };
  readonly idempotency: {
    readonly tableName: string;
  };
  /** The per-sender limit (shared/limits/send-rate.ts). */
  readonly sendRate: {
    readonly limit: number;
    readonly windowS: number;
  };
  readonly page: {
    readonly websocketUrl: string | undefined;
    readonly signIn: 'local' | 'cognito' | 'token';
    readonly cognitoClientId: string | undefined;
  };
  readonly realtime: {
    readonly connectionsTable: string;
    /** `WEBSOCKET_ENDPOINT`; `realtimeEndpoint()` checks that it is set where it is needed. */
    readonly endpoint: string | undefined;
    readonly region: string | undefined;
  };
  /**
   * Under `sls invoke local`, which waits for the event loop to empty: connections are closed
   * after each call instead of kept warm.
   */
  readonly invokeLocal: boolean;
  readonly consumer: {
    /** Report failed records in a partial batch response instead of failing the invocation. */
    readonly partialBatchResponse: boolean;
  };
  readonly identity: IdentitySettings;
}

/**
 * Reads and validates configuration from `env`.
 * @throws ConfigError naming every variable at fault
 */
export const loadConfig = (env: Env = process.env): Config => {
  // Empty strings mean "unset", as in shells that export `VAR=`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(`Invalid configuration: ${describeIssues(parsed.error.issues)}`);
  }
  const e = parsed.data;
  if (e.DEMO_MODE === 'true' && e.AUTH_MODE !== 'local') {
    throw new ConfigError(
      'Invalid configuration: DEMO_MODE=true needs AUTH_MODE=local: demo mode exists on the local stage only',
    );
  }
  if (e.AUTH_MODE === 'gateway' && e.IS_OFFLINE === 'true') {
    throw new ConfigError(
      'Invalid configuration: AUTH_MODE=gateway under serverless-offline, which does not verify token signatures: run offline on the local stage (AUTH_MODE=local)',
    );
  }
  if (e.KAFKA_AUTH === 'iam' && !e.KAFKA_BROKERS && !e.MSK_CLUSTER_ARN) {
    throw new ConfigError(
      'Invalid configuration: KAFKA_AUTH=iam needs KAFKA_BROKERS or MSK_CLUSTER_ARN to find the brokers',
    );
  }
  return deepFreeze({
    serviceName: e.SERVICE_NAME,
    metrics: { namespace: e.POWERTOOLS_METRICS_NAMESPACE ?? e.SERVICE_NAME },
    kafka: {
      clientId: e.KAFKA_CLIENT_ID,
      brokers: e.KAFKA_BROKERS,
      auth: e.KAFKA_AUTH,
      mskClusterArn: e.MSK_CLUSTER_ARN,
      region: e.AWS_REGION,
      sendTimeoutMs: e.KAFKA_SEND_TIMEOUT_MS,
    },
    localKafkaNodes: e.LOCAL_KAFKA_BROKERS === '3' ? 3 : 1,
    kafkaStateUrl: e.KAFKA_STATE_URL,
    topics: {
      notifications: e.NOTIFICATIONS_TOPIC,
      partitions: e.NOTIFICATIONS_TOPIC_PARTITIONS,
      deadLetter: e.NOTIFICATIONS_DLQ_TOPIC,
    },
    users: e.USERS ?? DEFAULT_USERS,
    dynamodb: { endpoint: e.DYNAMODB_ENDPOINT, region: e.AWS_REGION },
    inbox: { tableName: e.INBOX_TABLE, retentionDays: e.INBOX_RETENTION_DAYS },
    page: {
      websocketUrl: e.WEBSOCKET_URL,
      signIn: e.PAGE_SIGN_IN,
      cognitoClientId: e.PAGE_COGNITO_CLIENT_ID,
    },
    realtime: {
      connectionsTable: e.CONNECTIONS_TABLE,
      endpoint: e.WEBSOCKET_ENDPOINT,
      region: e.AWS_REGION,
    },
    idempotency: { tableName: e.IDEMPOTENCY_TABLE },
    sendRate: { limit: e.SEND_RATE_LIMIT, windowS: e.SEND_RATE_WINDOW_S },
    invokeLocal: e.IS_LOCAL === 'true',
    consumer: { partialBatchResponse: e.PARTIAL_BATCH_RESPONSE === 'true' },
    identity: identitySettings({
      mode: e.AUTH_MODE,
      userIdClaim: e.AUTH_USER_ID_CLAIM,
      issuer: e.AUTH_ISSUER,
      audiences: e.AUTH_AUDIENCE,
      requiredScopes: e.AUTH_SCOPES,
      tokenUse: e.AUTH_TOKEN_USE,
      keySetFile: e.AUTH_JWKS_FILE,
      keySetUrl: e.AUTH_JWKS_URL,
      demo: e.DEMO_MODE === 'true',
      invokeLocal: e.IS_LOCAL === 'true',
      offline: e.IS_OFFLINE === 'true',
    }),
  });
};

const deepFreeze = <T>(value: T): T => {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
};

/**
 * The `@connections` endpoint of a function that pushes.
 * @throws ConfigError when `WEBSOCKET_ENDPOINT` is not set
 */
export const realtimeEndpoint = (settings: Config): string => {
  if (!settings.realtime.endpoint) {
    throw new ConfigError(
      "Invalid configuration: WEBSOCKET_ENDPOINT is required by a function that pushes (the WebSocket API's @connections URL)",
    );
  }
  return settings.realtime.endpoint;
};

/**
 * The page's configuration (shared/web/page.ts).
 * @throws ConfigError when what the page needs is not set
 */
export const pageConfig = (settings: Config): PageConfig => {
  const { websocketUrl, signIn, cognitoClientId } = settings.page;
  if (!websocketUrl) {
    throw new ConfigError('Invalid configuration: WEBSOCKET_URL is required by the page');
  }
  if (signIn !== 'cognito') return { websocketUrl, signIn: { kind: signIn } };
  if (!cognitoClientId || !settings.realtime.region) {
    throw new ConfigError(
      'Invalid configuration: PAGE_SIGN_IN=cognito needs PAGE_COGNITO_CLIENT_ID and AWS_REGION',
    );
  }
  return {
    websocketUrl,
    signIn: { kind: 'cognito', region: settings.realtime.region, clientId: cognitoClientId },
  };
};

let cached: Config | undefined;

/** The process's configuration, loaded on first use. */
export const config = (): Config => {
  cached ??= loadConfig();
  return cached;
};
