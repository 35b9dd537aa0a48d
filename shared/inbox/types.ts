import type { Notification } from '../models/index.js';

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
  notifications: Notification[];
  /** Present when older notifications remain: pass it as `cursor` for the next page. */
  nextCursor?: string;
}

/** Reads an inbox; the read side depends on this, tests pass a fake. */
export interface InboxReader {
  list(userId: number, options: ListOptions): Promise<InboxPage>;
}

/** Writes to an inbox; the consumer depends on this, tests pass a fake. */
export interface InboxWriter {
  /** Stores every item, idempotently; resolves with the number of store calls made. */
  save(items: readonly StoredNotification[]): Promise<{ calls: number }>;
}
