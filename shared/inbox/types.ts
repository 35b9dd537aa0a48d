import type { InboxNotification, Notification } from '../models/index.js';

/** A notification as read from Kafka: the record's position identifies it. */
export interface StoredNotification {
  notification: Notification;
  partition: number;
  /** Kafka offsets are 64-bit: a string of digits. */
  offset: string;
}

export interface ListOptions {
  /** Most notifications in the page, at least 1. */
  readonly limit: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** One page of a user's notifications, newest first. */
export interface InboxPage {
  notifications: InboxNotification[];
  /** How many of the user's notifications are unread (all of them, not only this page's). */
  unreadCount: number;
  /** Present when older notifications remain: pass it as `cursor` for the next page. */
  nextCursor?: string;
}

/** What marking read changed. */
export interface MarkReadResult {
  /** The ids that were unread and are now read (empty when there were none). */
  readonly ids: readonly string[];
  /** The user's unread notifications left. */
  readonly unreadCount: number;
}

/** Reads an inbox; the read side depends on this, tests pass a fake. */
export interface InboxReader {
  list(userId: number, options: ListOptions): Promise<InboxPage>;
}

/** A notification the store refuses for good, and why (DynamoDB's error name and message). */
export interface RefusedNotification {
  readonly item: StoredNotification;
  readonly reason: string;
}

/** What saving came to. */
export interface SaveOutcome {
  /** Store calls made. */
  readonly calls: number;
  /** Items the store can never take (too large, the recipient's inbox full): the others are stored. */
  readonly refused: readonly RefusedNotification[];
}

/** Writes to an inbox; the consumer depends on this, tests pass a fake. */
export interface InboxWriter {
  /**
   * Stores every item not stored yet (a redelivered record never overwrites its item, nor its
   * read state), except those the store refuses for good, which it names.
   */
  save(items: readonly StoredNotification[]): Promise<SaveOutcome>;
}

/** Marks a user's notifications read; idempotent. */
export interface InboxMarker {
  /**
   * Marks `userId`'s notification `id` read.
   * @throws NotificationNotFoundError when `userId` has no notification `id`
   */
  markRead(userId: number, id: string): Promise<MarkReadResult>;
  /** Marks every notification of `userId` that is unread now read (at most `limit` of them). */
  markAllRead(userId: number): Promise<MarkReadResult>;
}
