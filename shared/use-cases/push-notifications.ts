import type { Logger } from '@aws-lambda-powertools/logger';
import type { DecodeResult } from '../kafka/codec.js';
import { forEachLimited } from '../limited.js';
import type { AppMetrics } from '../metrics.js';
import type { Notification } from '../models/index.js';
import { PUSH_LIMITS } from '../realtime/limits.js';
import type { ServerMessage } from '../realtime/messages.js';
import type { Pusher } from '../realtime/pusher.js';

export interface PushDependencies {
  readonly pusher: Pick<Pusher, 'push'>;
  readonly logger: Logger;
  readonly metrics: AppMetrics;
}

/**
 * The message of one recipient's notifications of a batch, in record order: the one
 * notification, or, for several, one `notifications` message with the newest
 * `PUSH_LIMITS.NOTIFICATIONS_PER_RECIPIENT` and how many older ones it skipped. So what one
 * recipient costs a batch is one post per session, however many were sent at once.
 */
export const messagesFor = (notifications: readonly Notification[]): ServerMessage[] => {
  const inbox = notifications.map((n) => ({ ...n, read: false }));
  const [only] = inbox;
  if (inbox.length === 1 && only) return [{ type: 'notification', notification: only }];
  const skipped = Math.max(0, inbox.length - PUSH_LIMITS.NOTIFICATIONS_PER_RECIPIENT);
  return [{ type: 'notifications', notifications: inbox.slice(skipped), skipped }];
};

/** What one batch came to. */
export interface PushBatchOutcome {
  readonly notifications: number;
  readonly recipients: number;
  readonly sent: number;
  readonly removed: number;
  readonly failed: number;
  /** Records that are not notifications: skipped here (the storing consumer dead-letters them). */
  readonly skipped: number;
  /** Records of a notification that an earlier record of this batch carried: pushed once. */
  readonly repeated: number;
}

/**
 * Pushes each notification of a batch to its recipient's open connections, in record order per
 * recipient. Never fails the batch: a push that fails is logged and counted (the inbox, written
 * by the other consumer group, is the source of truth), so that no connection, dead or slow,
 * ever blocks a partition or makes the event source deliver the batch again.
 *
 * A notification that two records carry (a client's retry after a 503 in doubt publishes the
 * same id again) is pushed once per batch; in two batches, or in a redelivered one, it is pushed
 * again: pushes are at least once, and clients take a known id for the notification they have
 * (the page does, web/app.ts), as the inbox does.
 */
export const pushNotifications = async (
  results: readonly DecodeResult[],
  deps: PushDependencies,
): Promise<PushBatchOutcome> => {
  const byRecipient = new Map<number, Notification[]>();
  const seen = new Set<string>();
  let skipped = 0;
  let repeated = 0;
  for (const result of results) {
    if (!result.ok) {
      skipped++;
      continue;
    }
    const { id, to } = result.notification;
    // Ids are unique per recipient only in the inbox; here the recipient is part of the key.
    const key = `${to.id}#${id}`;
    if (seen.has(key)) {
      repeated++;
      continue;
    }
    seen.add(key);
    const list = byRecipient.get(to.id) ?? [];
    list.push(result.notification);
    byRecipient.set(to.id, list);
  }
  let sent = 0;
  let removed = 0;
  let failed = 0;
  await forEachLimited(
    [...byRecipient.entries()],
    PUSH_LIMITS.RECIPIENT_CONCURRENCY,
    async ([userId, notifications]) => {
      const outcome = await deps.pusher.push(userId, messagesFor(notifications));
      sent += outcome.sent;
      removed += outcome.removed;
      failed += outcome.failed;
      if (outcome.connections > 0) {
        deps.logger.info('notifications pushed', {
          toId: userId,
          notificationIds: notifications.map((n) => n.id),
          connections: outcome.connections,
          sent: outcome.sent,
          failed: outcome.failed,
        });
      }
    },
  );
  deps.metrics.add('pushed', sent);
  if (failed > 0) deps.metrics.add('pushFailed', failed);
  if (removed > 0) deps.metrics.add('goneConnections', removed);
  return {
    notifications: results.length - skipped - repeated,
    recipients: byRecipient.size,
    sent,
    removed,
    failed,
    skipped,
    repeated,
  };
};
