import type { Logger } from '@aws-lambda-powertools/logger';
import type { InboxMarker, MarkReadResult } from '../inbox/types.js';
import type { Pusher } from '../realtime/pusher.js';

export interface ReadDependencies {
  readonly inbox: InboxMarker;
  readonly pusher: Pick<Pusher, 'push'>;
  readonly logger: Logger;
}

/** Which notifications to mark read: one by id, or all. */
export type ReadTarget = { readonly id: string } | { readonly all: true };

/**
 * Marks the caller's notification (or all of them) read, then tells every open session of the
 * caller, so that two tabs stay in step. Idempotent: marking again changes nothing and pushes
 * nothing.
 * @throws NotificationNotFoundError (404) for an id the caller has no notification with
 */
export const markRead = async (
  userId: number,
  target: ReadTarget,
  deps: ReadDependencies,
): Promise<MarkReadResult> => {
  const result =
    'id' in target
      ? await deps.inbox.markRead(userId, target.id)
      : await deps.inbox.markAllRead(userId);
  if (result.ids.length > 0) {
    deps.logger.info('notifications marked read', {
      userId,
      count: result.ids.length,
      unreadCount: result.unreadCount,
    });
    // Awaited: Lambda freezes what runs after the answer. The push is bounded and never throws.
    await deps.pusher.push(userId, [
      { type: 'read', ids: result.ids, unreadCount: result.unreadCount },
    ]);
  }
  return result;
};
