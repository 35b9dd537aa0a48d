import type { Logger } from '@aws-lambda-powertools/logger';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { awsClientOptions } from '../aws/client-options.js';
import type { ServerMessage } from './messages.js';

/**
 * Posting to one WebSocket connection through API Gateway's `@connections` API (serverless-offline
 * serves the same API locally). Every post is bounded in time, so that one slow or dead
 * connection never holds up the others, nor the partition whose records are being pushed.
 */

/** Timeouts and retries of one post. */
export const GATEWAY_DEFAULTS = {
  CONNECTION_TIMEOUT_MS: 1_000,
  REQUEST_TIMEOUT_MS: 2_000,
  /** One retry of a throttled or failed post; a gone connection is never retried. */
  MAX_ATTEMPTS: 2,
  /** Region of a local endpoint when `AWS_REGION` is unset (the SDK needs one to sign). */
  LOCAL_REGION: 'us-east-1',
} as const;

/** What became of one post: `gone` is a 410, the connection is closed for good. */
export type PostOutcome = 'sent' | 'gone' | 'failed';

/** Posts to connections; the pusher depends on this, tests pass a fake. */
export interface ConnectionGateway {
  post(connectionId: string, message: ServerMessage): Promise<PostOutcome>;
}

const HTTP_GONE = 410;

const isGone = (error: unknown): boolean => {
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'GoneException' || e?.$metadata?.httpStatusCode === HTTP_GONE;
};

/**
 * The `@connections` API at `endpoint`: `https://<api-id>.execute-api.<region>.amazonaws.com/<stage>`
 * on AWS, or serverless-offline's `http://127.0.0.1:<websocketPort>`, which is signed with dummy
 * credentials (an `http:` endpoint is always a local emulator).
 */
export class ApiGatewayConnections implements ConnectionGateway {
  readonly #client: ApiGatewayManagementApiClient;
  readonly #logger: Logger;

  constructor(endpoint: string, region: string | undefined, logger: Logger) {
    const local = new URL(endpoint).protocol === 'http:';
    this.#client = new ApiGatewayManagementApiClient({
      endpoint,
      ...awsClientOptions(GATEWAY_DEFAULTS, { region, local }),
    });
    this.#logger = logger;
  }

  async post(connectionId: string, message: ServerMessage): Promise<PostOutcome> {
    try {
      await this.#client.send(
        new PostToConnectionCommand({
          ConnectionId: connectionId,
          Data: new TextEncoder().encode(JSON.stringify(message)),
        }),
      );
      return 'sent';
    } catch (error) {
      if (isGone(error)) return 'gone';
      this.#logger.warn('post to connection failed', { connectionId, error });
      return 'failed';
    }
  }
}
