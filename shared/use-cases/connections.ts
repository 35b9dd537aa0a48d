import type { Logger } from '@aws-lambda-powertools/logger';
import { MissingTokenError, ValidationError } from '../errors.js';
import type { Authenticator } from '../identity/authenticator.js';
import type { ConnectionRegistry } from '../realtime/connection-store.js';
import { PUSH_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../realtime/messages.js';

export interface ConnectionDependencies {
  readonly connections: ConnectionRegistry;
  readonly authenticator: Pick<Authenticator, 'userOfToken'>;
  readonly logger: Logger;
}

/** What `$connect` reads from the upgrade request. */
export interface ConnectRequest {
  readonly connectionId: string;
  /** The `Sec-WebSocket-Protocol` header: the subprotocols the client offers, comma-separated. */
  readonly protocols: string | undefined;
}

/**
 * The offered subprotocols: `notifications.v1` must be one, and `bearer.<token>` carries the
 * token.
 * @throws ValidationError when `notifications.v1` is not offered
 * @returns the token, `undefined` when none is offered
 */
export const readProtocols = (header: string | undefined): string | undefined => {
  const offered = (header ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (!offered.includes(PUSH_PROTOCOL)) {
    throw ValidationError.field(
      'Sec-WebSocket-Protocol',
      `must offer the subprotocol ${PUSH_PROTOCOL}; received ${offered.length ? offered.filter((p) => !p.startsWith(TOKEN_PROTOCOL_PREFIX)).join(', ') || 'only a token' : 'none'}`,
    );
  }
  const token = offered.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
  return token?.slice(TOKEN_PROTOCOL_PREFIX.length);
};

/**
 * `$connect`: authenticates the token and records the connection under its user. Resolves with
 * the user's id.
 * @throws ValidationError (400) without the subprotocol; MissingTokenError (401) without a token;
 * the authenticator's 401 or 403 for a token it refuses, as on the HTTP routes
 */
export const connect = async (
  request: ConnectRequest,
  deps: ConnectionDependencies,
): Promise<number> => {
  const token = readProtocols(request.protocols);
  if (token === undefined) throw new MissingTokenError();
  const userId = await deps.authenticator.userOfToken(token);
  await deps.connections.add(userId, request.connectionId);
  deps.logger.info('connection opened', { userId, connectionId: request.connectionId });
  return userId;
};

/** `$disconnect`: forgets the connection. */
export const disconnect = async (
  connectionId: string,
  deps: Pick<ConnectionDependencies, 'connections' | 'logger'>,
): Promise<void> => {
  await deps.connections.removeById(connectionId);
  deps.logger.info('connection closed', { connectionId });
};
