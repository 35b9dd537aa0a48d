/**
 * The WebSocket contract: what a client sends, what the server pushes. Types only, so that the
 * page (web/) imports them without bundling anything.
 */
import type { InboxNotification } from '../models/index.js';

/**
 * The subprotocol a client must offer, and the server selects. The token travels as a second
 * offered subprotocol, `bearer.<token>`, which is never selected (browsers cannot set headers on
 * a WebSocket; a subprotocol keeps the token out of URLs, which logs and proxies record).
 */
export const PUSH_PROTOCOL = 'notifications.v1';

/** Prefix of the offered subprotocol that carries the token. */
export const TOKEN_PROTOCOL_PREFIX = 'bearer.';

/** Route selection (`$request.body.action`): the one action a client sends. */
export const PING_ACTION = 'ping';

/** What a client sends: `{"action":"ping"}` keeps an idle connection open (10 min on AWS). */
export interface ClientMessage {
  readonly action: typeof PING_ACTION;
}

/** A notification just stored for the connection's user (pushed by pushNotifications). */
export interface NotificationPush {
  readonly type: 'notification';
  readonly notification: InboxNotification;
}

/** Notifications of the connection's user marked read (in any of its sessions). */
export interface ReadPush {
  readonly type: 'read';
  /** The ids now read. */
  readonly ids: readonly string[];
  /** The user's unread notifications left. */
  readonly unreadCount: number;
}

/** Answer to a ping. */
export interface PongMessage {
  readonly type: 'pong';
}

/** Answer to a message the server does not understand. */
export interface ErrorMessage {
  readonly type: 'error';
  readonly message: string;
}

/**
 * Several new notifications for the connection's user at once (one batch of records held more
 * than one): the newest, up to `PUSH_LIMITS.NOTIFICATIONS_PER_RECIPIENT`, in the order they were
 * sent; `skipped` older ones are not carried (they are in the inbox, which the client reads again
 * when `skipped` is not 0). One message per connection and batch, however many were sent.
 */
export interface NotificationsPush {
  readonly type: 'notifications';
  readonly notifications: readonly InboxNotification[];
  readonly skipped: number;
}

/**
 * Why the server closes a session: `session_limit`, the user opened more sessions than
 * `SESSION_LIMITS.PER_USER` and this is the oldest; `token_expired`, the token the session was
 * opened with has expired (open a new one with a fresh token).
 */
export type CloseReason = 'session_limit' | 'token_expired';

/**
 * The last message of a session the server closes, right before it closes it (API Gateway's
 * `DeleteConnection` takes no close code or reason: this message is the reason).
 */
export interface ClosingMessage {
  readonly type: 'closing';
  readonly reason: CloseReason;
  readonly message: string;
}

/** Everything the server pushes to, or answers on, a connection. */
export type ServerMessage =
  | NotificationPush
  | NotificationsPush
  | ReadPush
  | ClosingMessage
  | PongMessage
  | ErrorMessage;
