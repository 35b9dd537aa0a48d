import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { config } from '../../shared/config.js';
import { ValidationError } from '../../shared/errors.js';
import { httpHandler, json, readBody } from '../../shared/http.js';
import { createKafka } from '../../shared/kafka/client.js';
import { KafkaPublisher } from '../../shared/kafka/publisher.js';
import { releasingAfterEachCall } from '../../shared/lambda.js';
import { createLogger } from '../../shared/logger.js';
import {
  DEMO_SEND_FIELDS,
  DemoSendRequestSchema,
  SEND_FIELDS,
  SendBodySchema,
  type SendRequest,
  toFieldIssues,
  UserDirectory,
} from '../../shared/models/index.js';
import {
  type SendDependencies,
  sendNotifications,
} from '../../shared/use-cases/send-notification.js';

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Pick<Context, 'awsRequestId'>,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Parses the body of `POST /notifications` (JSON) or the demo's `POST /send` (form or JSON). */
const parseRequests = (event: APIGatewayProxyEventV2) => {
  const demo = routeOf(event) === 'POST /send';
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

const routeOf = (event: APIGatewayProxyEventV2): string =>
  event.routeKey && event.routeKey !== '$default'
    ? event.routeKey
    : `${event.requestContext?.http?.method ?? ''} ${event.rawPath ?? ''}`;

/** Builds the HTTP handler around its dependencies (tests pass fakes). */
export const createHandler = (deps: SendDependencies): Handler =>
  httpHandler(deps, async (event: APIGatewayProxyEventV2) => {
    const { requests, fields, batch } = parseRequests(event);
    const receipts = await sendNotifications(requests, fields, batch, deps);
    return json(202, batch ? { notifications: receipts } : receipts[0]);
  });

// Created once per container and reused by warm invocations; the producer connects on first use.
const settings = config();
const logger = createLogger(settings.serviceName);
const publisher = new KafkaPublisher(createKafka(settings.kafka, logger), {
  topic: settings.topics.notifications,
  timeoutMs: settings.kafka.sendTimeoutMs,
  logger,
});

const warm: Handler = createHandler({
  publisher,
  users: new UserDirectory(settings.users),
  logger,
});

export const handler: Handler = settings.invokeLocal
  ? releasingAfterEachCall(warm, () => publisher.disconnect())
  : warm;
