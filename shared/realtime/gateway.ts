import type { Logger } from '@aws-lambda-powertools/logger';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { awsClientOptions } from '../aws/client-options.js';
import { PUSH_LIMITS } from './limits.js';
import type { ServerMessage } from './messages.js';

/**
 * Posting to one WebSocket connection through API Gateway's `@connections` API (serverless-offline
 * serves the same API locally). Every post is bounded in time, so that one slow or dead
 * connection never holds up the others, nor the partition whose records are being pushed.
 */

/**
 * Timeouts and retries of one post; the whole of it, retry included, is cut at
 * `PUSH_LIMITS.POST_DEADLINE_MS`.
 */
export const GATEWAY_DEFAULTS = {
  CONNECTION_TIMEOUT_MS: 500,
  REQUEST_TIMEOUT_MS: 800,
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
  /**
   * Closes a connection (`DeleteConnection`, which takes no close code or reason of ours: API
   * Gateway's logs show the disconnect as 1000 "Connection Closed Normally", aws/chalice#2060;
   * serverless-offline closes with no status, 1005). `gone`: it was closed already.
   */
  close(connectionId: string): Promise<PostOutcome>;
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

  post(connectionId: string, message: ServerMessage): Promise<PostOutcome> {
    return this.#bounded('post to connection failed', connectionId, (abortSignal) =>
      this.#client.send(
        new PostToConnectionCommand({
          ConnectionId: connectionId,
          Data: new TextEncoder().encode(JSON.stringify(message)),
        }),
        { abortSignal },
      ),
    );
  }

  close(connectionId: string): Promise<PostOutcome> {
    return this.#bounded('closing a connection failed', connectionId, (abortSignal) =>
      this.#client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }), {
        abortSignal,
      }),
    );
  }

  /** One call, its retry included, cut at the post deadline; never throws. */
  async #bounded(
    failure: string,
    connectionId: string,
    call: (signal: AbortSignal) => Promise<unknown>,
  ): Promise<PostOutcome> {
    try {
      await call(AbortSignal.timeout(PUSH_LIMITS.POST_DEADLINE_MS));
      return 'sent';
    } catch (error) {
      if (isGone(error)) return 'gone';
      this.#logger.warn(failure, { connectionId, error });
      return 'failed';
    }
  }
}
