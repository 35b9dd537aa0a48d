import type { Context } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/dynamodb-client.js';
import { config, realtimeEndpoint } from '../../shared/config.js';
import { ValidationError } from '../../shared/errors.js';
import { errorResponse, header } from '../../shared/http.js';
import { withRequestContext } from '../../shared/lambda.js';
import { createLogger } from '../../shared/logger.js';
import { UserDirectory } from '../../shared/models/index.js';
import { connectAuthenticator } from '../../shared/realtime/connect-authenticator.js';
import { ConnectionStore } from '../../shared/realtime/connection-store.js';
import { ConnectionIdSchema } from '../../shared/realtime/connections-table.js';
import { ApiGatewayConnections } from '../../shared/realtime/gateway.js';
import {
  type ErrorMessage,
  PING_ACTION,
  type PongMessage,
  PUSH_PROTOCOL,
} from '../../shared/realtime/messages.js';
import { Pusher } from '../../shared/realtime/pusher.js';
import {
  type ConnectionDependencies,
  connect,
  disconnect,
  stillValid,
} from '../../shared/use-cases/connections.js';

/**
 * The WebSocket API's routes: `$connect` (authenticate, record the connection, close the user's
 * oldest sessions past the limit), `$disconnect` (forget it), `ping` (answer `pong`: any message
 * keeps a connection from the 10-minute idle timeout) and `$default` (any other message: an error
 * message, the connection stays open). A message on a session whose token has expired closes it.
 */

/** The parts of API Gateway's WebSocket event (and serverless-offline's) that are read here. */
export interface WebSocketEvent {
  readonly requestContext: {
    readonly routeKey: string;
    readonly connectionId: string;
  };
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: string | null;
}

/** A route's answer; for `$connect`, the status of the upgrade. */
export interface WebSocketResult {
  readonly statusCode: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

type Handler = (
  event: WebSocketEvent,
  context: Pick<Context, 'awsRequestId'>,
) => Promise<WebSocketResult>;

const message = (body: PongMessage | ErrorMessage): WebSocketResult => ({
  statusCode: 200,
  body: JSON.stringify(body),
});

/** Builds the WebSocket handler around its dependencies (tests pass fakes). */
export const createHandler = (deps: ConnectionDependencies): Handler =>
  withRequestContext(deps, async (event: WebSocketEvent, request) => {
    const { routeKey } = event.requestContext;
    try {
      const connectionId = ConnectionIdSchema.safeParse(event.requestContext.connectionId);
      if (!connectionId.success) {
        throw ValidationError.field('connectionId', 'expected an API Gateway connection id');
      }
      request.add({ connectionId: connectionId.data });
      switch (routeKey) {
        case '$connect': {
          const protocols = header(event, 'sec-websocket-protocol');
          const userId = await connect({ connectionId: connectionId.data, protocols }, deps);
          request.add({ userId });
          // The subprotocol chosen goes back to the client (API Gateway developer guide,
          // `websocket-connect-route-subprotocol`); the token one is never echoed.
          return { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': PUSH_PROTOCOL } };
        }
        case '$disconnect':
          await disconnect(connectionId.data, deps);
          return { statusCode: 200 };
        case PING_ACTION:
          if (!(await stillValid(connectionId.data, deps))) return { statusCode: 200 };
          return message({ type: 'pong' });
        default:
          if (!(await stillValid(connectionId.data, deps))) return { statusCode: 200 };
          return message({
            type: 'error',
            message: `Unknown message: send {"action":"${PING_ACTION}"}; notifications are pushed.`,
          });
      }
    } catch (error) {
      // A refused `$connect` is a refused upgrade: the client sees this status.
      return errorResponse(error, deps.logger, request.requestId);
    }
  });

// Created once per container and reused by warm invocations.
const settings = config();
const logger = createLogger(settings.serviceName);

const connections = new ConnectionStore(
  createDocumentClient(settings.dynamodb),
  settings.realtime.connectionsTable,
  logger,
);

export const handler: Handler = createHandler({
  connections,
  closer: new Pusher(
    connections,
    new ApiGatewayConnections(realtimeEndpoint(settings), settings.realtime.region, logger),
    logger,
  ),
  authenticator: connectAuthenticator(settings.identity, {
    users: new UserDirectory(settings.users),
    logger,
  }),
  logger,
});
