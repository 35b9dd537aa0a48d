import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/dynamodb-client.js';
import { config, realtimeEndpoint } from '../../shared/config.js';
import { ValidationError } from '../../shared/errors.js';
import { httpHandler, json, routeOf } from '../../shared/http.js';
import { type Authenticator, createAuthenticator } from '../../shared/identity/authenticator.js';
import { InboxStore } from '../../shared/inbox/store.js';
import type { Telemetry } from '../../shared/lambda.js';
import { createLogger } from '../../shared/logger.js';
import { NotificationIdSchema, UserDirectory } from '../../shared/models/index.js';
import { ConnectionStore } from '../../shared/realtime/connection-store.js';
import { ApiGatewayConnections } from '../../shared/realtime/gateway.js';
import { Pusher } from '../../shared/realtime/pusher.js';
import {
  markRead,
  type ReadDependencies,
  type ReadTarget,
} from '../../shared/use-cases/read-notifications.js';

/**
 * `POST /notifications/{id}/read` (one) and `POST /notifications/read` (all): the caller's own
 * notifications only.
 */

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Pick<Context, 'awsRequestId'>,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** The route that marks all read; the other one names an id. */
export const MARK_ALL_ROUTE = 'POST /notifications/read';

const targetOf = (event: APIGatewayProxyEventV2): ReadTarget => {
  if (routeOf(event) === MARK_ALL_ROUTE) return { all: true };
  const id = event.pathParameters?.id;
  const parsed = NotificationIdSchema.safeParse(id);
  if (!parsed.success) {
    throw ValidationError.field(
      'id',
      `expected a notification id (a UUID); received ${JSON.stringify(id ?? null).slice(0, 60)}`,
    );
  }
  return { id: parsed.data.toLowerCase() };
};

export interface ReadHandlerDependencies extends ReadDependencies, Telemetry {
  readonly authenticator: Pick<Authenticator, 'callerOf'>;
}

/** Builds the HTTP handler around its dependencies (tests pass fakes). */
export const createHandler = (deps: ReadHandlerDependencies): Handler =>
  httpHandler(deps, async (event: APIGatewayProxyEventV2, request) => {
    // Always a token: demo mode never reaches these routes.
    const caller = await deps.authenticator.callerOf(event, { demo: false });
    if (caller.kind !== 'user') throw new Error('a demo caller on a route without demo mode');
    const { userId } = caller;
    request.add({ callerId: userId });
    const target = targetOf(event);
    const result = await markRead(userId, target, deps);
    return json(
      200,
      'id' in target
        ? { id: target.id, read: true, unreadCount: result.unreadCount }
        : { marked: result.ids.length, unreadCount: result.unreadCount },
    );
  });

// Created once per container and reused by warm invocations.
const settings = config();
const logger = createLogger(settings.serviceName);
const dynamo = createDocumentClient(settings.dynamodb);

export const handler: Handler = createHandler({
  inbox: new InboxStore(dynamo, settings.inbox.tableName, logger),
  pusher: new Pusher(
    new ConnectionStore(dynamo, settings.realtime.connectionsTable, logger),
    new ApiGatewayConnections(realtimeEndpoint(settings), settings.realtime.region, logger),
    logger,
  ),
  authenticator: createAuthenticator(settings.identity, {
    users: new UserDirectory(settings.users),
    logger,
  }),
  logger,
});
