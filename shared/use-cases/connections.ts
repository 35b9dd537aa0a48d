import type { Logger } from '@aws-lambda-powertools/logger';
import { MissingTokenError, SessionLimitError, ValidationError } from '../errors.js';
import type { Authenticator } from '../identity/authenticator.js';
import type { ConnectionRegistry } from '../realtime/connection-store.js';
import { SESSION_LIMITS } from '../realtime/limits.js';
import { PUSH_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../realtime/messages.js';
import type { Pusher } from '../realtime/pusher.js';

export interface ConnectionDependencies {
  readonly connections: ConnectionRegistry;
  readonly authenticator: Pick<Authenticator, 'sessionOfToken'>;
  /** Closes the sessions past the user's limit, and those whose token expired. */
  readonly closer: Pick<Pusher, 'close'>;
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
 * `$connect`: authenticates the token and records the connection under its user, with the
 * token's expiry (nothing is pushed to it after that). Past `SESSION_LIMITS.PER_USER` open
 * sessions, the oldest are closed, each told why. Resolves with the user's id.
 * @throws ValidationError (400) without the subprotocol; MissingTokenError (401) without a token;
 * the authenticator's 401 or 403 for a token it refuses, as on the HTTP routes
 */
export const connect = async (
  request: ConnectRequest,
  deps: ConnectionDependencies,
): Promise<number> => {
  const token = readProtocols(request.protocols);
  if (token === undefined) throw new MissingTokenError();
  const { userId, expiresAt } = await deps.authenticator.sessionOfToken(token);
  await deps.connections.add(userId, request.connectionId, expiresAt);
  deps.logger.info('connection opened', { userId, connectionId: request.connectionId });
  // This one stays, with the newest others up to the limit; the older ones are closed, oldest
  // first (each told why). Several `$connect`s at once each do so: one may close a session whose
  // own `$connect` still runs (API Gateway answers it 410 until then: the closer tries it again
  // for a moment) and forget it; that one then finds itself forgotten below, and refuses its own
  // upgrade.
  const others = (await deps.connections.of(userId)).filter(
    (c) => c.connectionId !== request.connectionId,
  );
  const excess = others.length + 1 - SESSION_LIMITS.PER_USER;
  for (const oldest of others.slice(0, Math.max(0, excess))) {
    await deps.closer.close(oldest, 'session_limit');
  }
  const mine = (await deps.connections.of(userId)).some(
    (c) => c.connectionId === request.connectionId,
  );
  if (!mine) throw new SessionLimitError(SESSION_LIMITS.PER_USER);
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

/**
 * A message from a session (`ping`, or anything else): a session whose token has expired is
 * closed, told why, instead of being answered. Resolves with whether it is still open.
 */
export const stillValid = async (
  connectionId: string,
  deps: Pick<ConnectionDependencies, 'connections' | 'closer'>,
  now: Date = new Date(),
): Promise<boolean> => {
  const connection = await deps.connections.byId(connectionId);
  if (!connection) return true;
  if ((connection.tokenExpiresAt ?? 0) > Math.floor(now.getTime() / 1000)) return true;
  await deps.closer.close(connection, 'token_expired');
  return false;
};
