import { UserNotFoundError } from '../errors.js';
import type { InboxPage, InboxReader } from '../inbox/types.js';
import type { ListRequest, UserDirectory } from '../models/index.js';

export interface ListDependencies {
  readonly inbox: InboxReader;
  readonly users: UserDirectory;
}

/**
 * One page of a user's received notifications, newest first. An id that is not in the directory
 * is a 404, even when the store holds notifications for it.
 */
export const listNotifications = async (
  request: ListRequest,
  deps: ListDependencies,
): Promise<InboxPage> => {
  if (!deps.users.find(request.userId)) throw new UserNotFoundError('userId', request.userId);
  return deps.inbox.list(request.userId, {
    limit: request.limit,
    ...(request.cursor === undefined ? {} : { cursor: request.cursor }),
  });
};
