import type { InboxNotification } from '../../shared/models/index.js';
import { testIssuer } from './tokens.js';

/**
 * What a client of the service does, with tokens of the project's local issuer
 * (`.local/identity`, which `sls offline` on the local stage verifies against).
 */

/** A token for `userId`. */
export const tokenFor = async (userId: number): Promise<string> =>
  (await testIssuer()).issue(userId);

/** The caller's own inbox page, as `GET /me/notifications` answers it. */
export interface OwnInbox {
  readonly notifications: InboxNotification[];
  readonly unreadCount: number;
}

/** Fails with what the service answered when it is not `status`. */
const expectStatus = async (response: Response, status: number, what: string): Promise<void> => {
  if (response.status !== status) {
    throw new Error(`${what} answered ${response.status}: ${await response.text()}`);
  }
};

/** `POST /notifications` as `fromId` to `toId`; resolves with the accepted notification's id. */
export const sendAs = async (
  base: string,
  fromId: number,
  toId: number,
  message: string,
): Promise<string> => {
  const response = await fetch(`${base}/notifications`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await tokenFor(fromId)}`,
    },
    body: JSON.stringify({ toId, message }),
  });
  await expectStatus(response, 202, `POST /notifications as user ${fromId}`);
  return ((await response.json()) as { id: string }).id;
};

/** `GET /me/notifications?limit=100` as `userId`. */
export const inboxOf = async (base: string, userId: number): Promise<OwnInbox> => {
  const response = await fetch(`${base}/me/notifications?limit=100`, {
    headers: { authorization: `Bearer ${await tokenFor(userId)}` },
  });
  await expectStatus(response, 200, `GET /me/notifications as user ${userId}`);
  return (await response.json()) as OwnInbox;
};
