import type { Logger } from '@aws-lambda-powertools/logger';
import { forEachLimited } from '../limited.js';
import type { ConnectionRegistry } from './connection-store.js';
import type { Connection } from './connections-table.js';
import type { ConnectionGateway } from './gateway.js';
import type { ServerMessage } from './messages.js';

/** Bounds of one push. */
export const PUSH_DEFAULTS = {
  /** Connections posted to at once. */
  CONCURRENCY: 16,
  /**
   * A connection this young that answers 410 is kept: API Gateway answers 410 until `$connect`
   * has returned (AWS knowledge center, "410 GoneException"), and the item is written during
   * `$connect`. Older, a 410 means it is closed for good.
   */
  CONNECT_GRACE_MS: 10_000,
} as const;

/** What one push came to, counted in posts (one per message and connection). */
export interface PushOutcome {
  readonly connections: number;
  readonly sent: number;
  /** Connections that answered 410 and were removed. */
  readonly removed: number;
  /** Posts that failed (throttled, timed out, the store unavailable): never retried here. */
  readonly failed: number;
}

/**
 * Pushes messages to every open connection of a user. Best effort by design: the inbox is the
 * source of truth, and a client that missed a push catches up from `GET` when it reconnects. So
 * a push never throws: what fails is logged and counted, a gone connection is removed, and each
 * post is bounded in time (gateway.ts), so that one dead connection never holds up the others.
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

  /** Posts `messages`, in order, to each of `userId`'s connections. */
  async push(userId: number, messages: readonly ServerMessage[]): Promise<PushOutcome> {
    let connections: Connection[];
    try {
      connections = await this.#registry.of(userId);
    } catch (error) {
      this.#logger.warn('push skipped: the connections store failed', { userId, error });
      return { connections: 0, sent: 0, removed: 0, failed: messages.length };
    }
    let sent = 0;
    let removed = 0;
    let failed = 0;
    await forEachLimited(connections, PUSH_DEFAULTS.CONCURRENCY, async (connection) => {
      for (const message of messages) {
        const outcome = await this.#gateway.post(connection.connectionId, message);
        if (outcome === 'sent') sent++;
        else if (outcome === 'failed') failed++;
        else {
          if (await this.#forget(connection)) removed++;
          return;
        }
      }
    });
    return { connections: connections.length, sent, removed, failed };
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
