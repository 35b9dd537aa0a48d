import { OtherUserError, UserNotFoundError } from '../errors.js';
import type { Caller } from '../identity/authenticator.js';
import type { InboxPage, InboxReader } from '../inbox/types.js';
import type { ListRequest, UserDirectory } from '../models/index.js';

export interface ListDependencies {
  readonly inbox: InboxReader;
  readonly users: UserDirectory;
}

/**
 * One page of a user's received notifications, newest first, for `caller`: a user reads their
 * own inbox only (another's is 403, whether or not that user exists: nothing is revealed). An id
 * that is not in the directory is a 404, even when the store holds notifications for it.
 */
export const listNotifications = async (
  request: ListRequest,
  caller: Caller,
  deps: ListDependencies,
): Promise<InboxPage> => {
  if (caller.kind === 'user' && request.userId !== caller.userId) {
    throw new OtherUserError(
      'userId',
      `you may read your own inbox only (user ${caller.userId}); received ${request.userId}.`,
    );
  }
  if (!deps.users.find(request.userId)) throw new UserNotFoundError('userId', request.userId);
  return deps.inbox.list(request.userId, {
    limit: request.limit,
    ...(request.cursor === undefined ? {} : { cursor: request.cursor }),
  });
};
