import type { Context, MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import { createDocumentClient } from '../../shared/aws/dynamodb-client.js';
import { config, realtimeEndpoint } from '../../shared/config.js';
import { decodeEvent } from '../../shared/kafka/codec.js';
import { withRequestContext } from '../../shared/lambda.js';
import { createLogger } from '../../shared/logger.js';
import { createMetrics } from '../../shared/metrics.js';
import { ConnectionStore } from '../../shared/realtime/connection-store.js';
import { ApiGatewayConnections } from '../../shared/realtime/gateway.js';
import { Pusher } from '../../shared/realtime/pusher.js';
import { traced } from '../../shared/trace.js';
import {
  type PushBatchOutcome,
  type PushDependencies,
  pushNotifications,
} from '../../shared/use-cases/push-notifications.js';

/**
 * The second consumer of the notifications topic, in a consumer group of its own: pushes each
 * notification to its recipient's open WebSocket connections. Storing (processNotifications) and
 * pushing scale and fail apart; this one never fails a batch (see pushNotifications).
 */

type Handler = (
  event: MSKEvent | SelfManagedKafkaEvent,
  context: Pick<Context, 'awsRequestId'>,
) => Promise<PushBatchOutcome>;

/** Builds the Kafka-triggered handler around its dependencies (tests pass fakes). */
export const createHandler = (deps: PushDependencies): Handler =>
  withRequestContext(deps, async (event: MSKEvent | SelfManagedKafkaEvent) =>
    pushNotifications(decodeEvent(event), deps),
  );

// Created once per container and reused by warm invocations.
const settings = config();
const logger = createLogger(settings.serviceName);

export const handler: Handler = traced(
  'push',
  createHandler({
    pusher: new Pusher(
      new ConnectionStore(
        createDocumentClient(settings.dynamodb),
        settings.realtime.connectionsTable,
        logger,
      ),
      new ApiGatewayConnections(realtimeEndpoint(settings), settings.realtime.region, logger),
      logger,
    ),
    logger,
    metrics: createMetrics(settings),
  }),
);
