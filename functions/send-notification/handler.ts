import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { config } from '../../shared/config.js';
import { FieldError, ValidationError } from '../../shared/errors.js';
import { header, httpHandler, json, readBody, routeOf } from '../../shared/http.js';
import {
  IDEMPOTENCY_KEY_HEADER,
  type IdempotencyGuard,
  lazyGuard,
  parseIdempotencyKey,
  scopedKey,
} from '../../shared/idempotency/guard.js';
import { notificationIds } from '../../shared/idempotency/notification-ids.js';
import {
  type Authenticator,
  type Caller,
  createAuthenticator,
} from '../../shared/identity/authenticator.js';
import { createKafka } from '../../shared/kafka/client.js';
import { KafkaPublisher, PUBLISHER_CLIENT_RETRY } from '../../shared/kafka/publisher.js';
import {
  type LambdaContext,
  releasingAfterEachCall,
  timeLeftForWork,
} from '../../shared/lambda.js';
import { lazyLimiter } from '../../shared/limits/send-rate.js';
import { createLogger } from '../../shared/logger.js';
import { createMetrics } from '../../shared/metrics.js';
import {
  DEMO_SEND_FIELDS,
  DemoSendRequestSchema,
  type FieldNames,
  SEND_FIELDS,
  SendBodySchema,
  type SendRequest,
  toFieldIssues,
  UserDirectory,
} from '../../shared/models/index.js';
import { mark, traced } from '../../shared/trace.js';
import {
  type NotificationIdOf,
  type SendDependencies,
  sendNotifications,
} from '../../shared/use-cases/send-notification.js';

type Handler = (
  event: APIGatewayProxyEventV2,
  context: LambdaContext,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** The demo's route: tokenless requests may use it in demo mode (local stage only). */
const DEMO_ROUTE = 'POST /send';

/**
 * Parses the body of `POST /notifications` (JSON) or the demo's `POST /send` (form or JSON): the
 * requests, the names the route's clients give their fields, and whether the body was a batch.
 */
const parseRequests = (event: APIGatewayProxyEventV2, demo: boolean) => {
  const body = readBody(event, demo ? ['form', 'json'] : ['json']);
  const schema = demo ? DemoSendRequestSchema : SendBodySchema;
  const fields = demo ? DEMO_SEND_FIELDS : SEND_FIELDS;
  const parsed = schema.safeParse(body.value);
  if (!parsed.success) {
    throw new ValidationError(toFieldIssues(parsed.error, body.value, Object.values(fields)));
  }
  const batch = Array.isArray(parsed.data);
  const requests: SendRequest[] = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
  return { requests, fields, batch };
};

/**
 * The one place where the use case's fields (`[index, 'fromId']`) get the names this route's
 * clients sent: `fromID` on the demo's `/send`, `fromId` on `/notifications`, behind the item's
 * index in a batch only (`[3].toId`).
 */
const asSent = (error: unknown, fields: FieldNames, batch: boolean): unknown => {
  if (!(error instanceof FieldError)) return error;
  const [index, name] = error.path;
  if (typeof index !== 'number' || typeof name !== 'string' || !Object.hasOwn(fields, name)) {
    return error;
  }
  const sent = fields[name as keyof FieldNames];
  return error.at(batch ? [index, sent] : [sent]);
};

export interface SendHandlerDependencies extends SendDependencies {
  readonly authenticator: Authenticator;
  /** Runs a request with an Idempotency-Key once; without it the header is refused. */
  readonly idempotency?: IdempotencyGuard;
}

/** Whose keys an Idempotency-Key belongs to: each user's own; the demo's tokenless callers share one. */
const scopeOf = (caller: Caller): string =>
  caller.kind === 'user' ? `user-${caller.userId}` : caller.kind;

/**
 * Builds the HTTP handler around its dependencies (tests pass fakes). The caller is known before
 * the body is read: a refused token learns nothing about the request.
 */
export const createHandler = (deps: SendHandlerDependencies): Handler =>
  httpHandler(deps, async (event: APIGatewayProxyEventV2, request, context: LambdaContext) => {
    const demo = routeOf(event) === DEMO_ROUTE;
    const caller = await deps.authenticator.callerOf(event, { demo });
    if (caller.kind === 'user') request.add({ callerId: caller.userId });
    const { requests, fields, batch } = parseRequests(event, demo);
    const key = parseIdempotencyKey(header(event, IDEMPOTENCY_KEY_HEADER));
    // Publish within the time this invocation has left, so that it answers before it times out.
    const timeoutMs = timeLeftForWork(context);
    const send = async (idOf?: NotificationIdOf) => {
      const receipts = await sendNotifications({ caller, requests, timeoutMs, idOf }, deps).catch(
        (error: unknown) => {
          throw asSent(error, fields, batch);
        },
      );
      mark('acked');
      return batch ? { notifications: receipts } : (receipts[0] ?? null);
    };
    if (key === undefined) return json(202, await send());
    if (!deps.idempotency) {
      throw ValidationError.field(IDEMPOTENCY_KEY_HEADER, 'is not supported by this deployment');
    }
    const scope = scopeOf(caller);
    const payload = { route: routeOf(event), requests };
    // The ids derive from the request, so that a retry after a 503 in doubt (which the guard
    // forgets) publishes the same notifications again, and the inbox stores each once.
    const idOf = notificationIds({ scope, key, payload });
    const { value, replayed } = await deps.idempotency.once(
      { key: scopedKey(scope, key), payload },
      () => send(idOf),
      timeoutMs,
    );
    return json(202, value, replayed ? { 'idempotent-replayed': 'true' } : {});
  });

// Created once per container and reused by warm invocations; the producer connects on first use.
const settings = config();
const logger = createLogger(settings.serviceName);
const publisher = new KafkaPublisher(
  createKafka(settings.kafka, logger, { retry: PUBLISHER_CLIENT_RETRY }),
  {
    topic: settings.topics.notifications,
    timeoutMs: settings.kafka.sendTimeoutMs,
    logger,
  },
);

const users = new UserDirectory(settings.users);

const warm: Handler = createHandler({
  publisher,
  users,
  authenticator: createAuthenticator(settings.identity, { users, logger }),
  logger,
  metrics: createMetrics(settings),
  // Loaded on the first request: the counters share the Idempotency-Keys' table. None when the
  // limit is off (SEND_RATE_LIMIT=0).
  ...(settings.sendRate.limit > 0
    ? {
        limiter: lazyLimiter(async () => {
          const { DynamoDBSendLimiter, createLimiterClient } = await import(
            '../../shared/limits/dynamodb-send-limiter.js'
          );
          return new DynamoDBSendLimiter(
            createLimiterClient(settings.dynamodb),
            settings.idempotency.tableName,
            settings.sendRate,
            logger,
          );
        }),
      }
    : {}),
  // Loaded on the first request with an Idempotency-Key, not at init (shared/idempotency/guard.ts).
  idempotency: lazyGuard(async () => {
    const { DynamoDBIdempotency, createIdempotencyClient } = await import(
      '../../shared/idempotency/dynamodb-guard.js'
    );
    return new DynamoDBIdempotency({
      tableName: settings.idempotency.tableName,
      client: createIdempotencyClient(settings.dynamodb),
      keyPrefix: 'send-notification',
    });
  }),
});

export const handler: Handler = settings.invokeLocal
  ? releasingAfterEachCall(warm, () => publisher.disconnect())
  : traced('send', warm);
