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

/** Everything the server pushes to, or answers on, a connection. */
export type ServerMessage = NotificationPush | ReadPush | PongMessage | ErrorMessage;
