import type { Logger } from '@aws-lambda-powertools/logger';
import { forEachLimited } from '../limited.js';
import type { ConnectionRegistry } from './connection-store.js';
import type { Connection } from './connections-table.js';
import type { ConnectionGateway } from './gateway.js';
import { SESSION_LIMITS } from './limits.js';
import type { CloseReason, ClosingMessage, ServerMessage } from './messages.js';

/** Bounds of one push. */
export const PUSH_DEFAULTS = {
  /**
   * A connection this young that answers 410 is kept: API Gateway answers 410 until `$connect`
   * has returned (AWS knowledge center, "410 GoneException"), and the item is written during
   * `$connect`. Older, a 410 means it is closed for good.
   */
  CONNECT_GRACE_MS: 10_000,
  /**
   * Closing a session that answers 410 while younger than `CONNECT_GRACE_MS` (its `$connect`
   * may still run): tried again this many times, this far apart.
   */
  CLOSE_RETRIES: 12,
  CLOSE_RETRY_MS: 250,
} as const;

/** What one push came to, counted in posts (one per message and connection). */
export interface PushOutcome {
  readonly connections: number;
  readonly sent: number;
  /** Connections that answered 410 and were removed. */
  readonly removed: number;
  /** Posts that failed (throttled, timed out, the store unavailable): never retried here. */
  readonly failed: number;
  /** Sessions closed because their token had expired. */
  readonly expired: number;
}

const CLOSING_TEXT: Readonly<Record<CloseReason, string>> = {
  session_limit: `This user opened more than ${SESSION_LIMITS.PER_USER} sessions: the oldest is closed.`,
  token_expired: 'The token of this session has expired: connect again with a fresh token.',
};

/**
 * Pushes messages to every open connection of a user. Best effort by design: the inbox is the
 * source of truth, and a client that missed a push catches up from `GET` when it reconnects. So
 * a push never throws: what fails is logged and counted, a gone connection is removed, and each
 * post is bounded in time (gateway.ts): a connection that fails or is slow gets nothing more of
 * this push, so that one dead connection never holds up the others. A session whose token has
 * expired is posted nothing: it is closed, told why.
 */
export class Pusher {
  readonly #registry: ConnectionRegistry;
  readonly #gateway: ConnectionGateway;
  readonly #logger: Logger;
  readonly #now: () => Date;

  constructor(
    registry: ConnectionRegistry,
    gateway: ConnectionGateway,
    logger: Logger,
    now: () => Date = () => new Date(),
  ) {
    this.#registry = registry;
    this.#gateway = gateway;
    this.#logger = logger;
    this.#now = now;
  }

  /** Posts `messages`, in order, to each of `userId`'s live connections. */
  async push(userId: number, messages: readonly ServerMessage[]): Promise<PushOutcome> {
    let connections: Connection[];
    try {
      connections = await this.#registry.of(userId);
    } catch (error) {
      this.#logger.warn('push skipped: the connections store failed', { userId, error });
      return { connections: 0, sent: 0, removed: 0, failed: messages.length, expired: 0 };
    }
    const nowS = Math.floor(this.#now().getTime() / 1000);
    const live = connections.filter((c) => (c.tokenExpiresAt ?? 0) > nowS);
    const expired = connections.filter((c) => (c.tokenExpiresAt ?? 0) <= nowS);
    let sent = 0;
    let removed = 0;
    let failed = 0;
    // At most SESSION_LIMITS.PER_USER live ones (more only for an instant, while `$connect`
    // closes the oldest): all at once.
    await forEachLimited([...live, ...expired], connections.length, async (connection) => {
      if (expired.includes(connection)) {
        await this.close(connection, 'token_expired');
        return;
      }
      for (const message of messages) {
        const outcome = await this.#gateway.post(connection.connectionId, message);
        if (outcome === 'sent') sent++;
        else if (outcome === 'failed') {
          // Slow or failing: dropped for the rest of this push, which does not wait on it again.
          failed += 1;
          return;
        } else {
          if (await this.#forget(connection)) removed++;
          return;
        }
      }
    });
    return { connections: live.length, sent, removed, failed, expired: expired.length };
  }

  /**
   * Closes a session, telling it why first (`closing`), and forgets it. Never throws: a session
   * that cannot be closed now is closed by API Gateway's limits, and is never pushed to again.
   */
  async close(connection: Connection, reason: CloseReason): Promise<void> {
    const closing: ClosingMessage = { type: 'closing', reason, message: CLOSING_TEXT[reason] };
    const { userId, connectionId } = connection;
    let posted = await this.#gateway.post(connectionId, closing);
    for (let retry = 0; posted === 'gone' && retry < PUSH_DEFAULTS.CLOSE_RETRIES; retry++) {
      if (this.#now().getTime() - connection.connectedAt >= PUSH_DEFAULTS.CONNECT_GRACE_MS) break;
      await new Promise((resolve) => setTimeout(resolve, PUSH_DEFAULTS.CLOSE_RETRY_MS));
      posted = await this.#gateway.post(connectionId, closing);
    }
    // Closed even when the message did not go (slow, say): only a gone one needs no closing.
    if (posted !== 'gone') await this.#gateway.close(connectionId);
    try {
      await this.#registry.remove(userId, connectionId);
      this.#logger.info('session closed', { userId, connectionId, reason });
    } catch (error) {
      this.#logger.warn('closed session not removed', { userId, connectionId, reason, error });
    }
  }

  /** Removes a connection that answered 410, unless it may still be opening. */
  async #forget(connection: Connection): Promise<boolean> {
    const age = this.#now().getTime() - connection.connectedAt;
    if (age < PUSH_DEFAULTS.CONNECT_GRACE_MS) return false;
    try {
      await this.#registry.remove(connection.userId, connection.connectionId);
      this.#logger.info('gone connection removed', {
        userId: connection.userId,
        connectionId: connection.connectionId,
      });
      return true;
    } catch (error) {
      this.#logger.warn('gone connection not removed', { ...connection, error });
      return false;
    }
  }
}
