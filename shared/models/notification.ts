import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import { type User, UserSchema } from './user.js';

/** Longest message accepted, in characters (Unicode code points). */
export const MAX_MESSAGE_CHARS = 2000;

/** Version of the notification JSON written to Kafka, sent in the `schema-version` header. */
export const NOTIFICATION_SCHEMA_VERSION = '1';

/** Counts characters as a reader would: one per code point, not per UTF-16 unit. */
export const characterCount = (text: string): number => {
  let count = 0;
  for (const _ of text) count++;
  return count;
};

/**
 * A lone UTF-16 surrogate: half of a pair whose other half is missing. JSON's `\ud800` escape
 * makes one; no UTF-8 encoder (Kafka's record, DynamoDB's string, a browser's text) can write it
 * as what it was, so it is refused rather than turned into U+FFFD somewhere down the line.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Valid text: well-formed Unicode, with no lone surrogate (what `String#isWellFormed` checks). */
export const isWellFormedText = (text: string): boolean => !LONE_SURROGATE.test(text);

export const NOT_WELL_FORMED = 'must be well-formed Unicode text; received a lone UTF-16 surrogate';

export const MessageSchema = z.string().check(
  z.refine((m) => m.trim().length > 0, { error: 'must not be empty' }),
  z.refine(isWellFormedText, { error: NOT_WELL_FORMED }),
  z.refine((m) => characterCount(m) <= MAX_MESSAGE_CHARS, {
    error: `must be at most ${MAX_MESSAGE_CHARS} characters`,
  }),
);

/**
 * A notification's id: a UUID, random (version 4), or derived from the request's Idempotency-Key
 * (version 8, shared/idempotency/notification-ids.ts).
 */
export const NotificationIdSchema = z.uuid();

/**
 * A notification as published to Kafka and stored in the inbox.
 * Field names are compatible with the demo's (`from`, `to`, `message`).
 */
export const NotificationSchema = z.object({
  id: NotificationIdSchema,
  from: UserSchema,
  to: UserSchema,
  message: MessageSchema,
  createdAt: z.iso.datetime(),
});
export type Notification = z.infer<typeof NotificationSchema>;

/**
 * A notification as its recipient reads it: with its read flag (a page of the inbox, a push over
 * the WebSocket).
 */
export type InboxNotification = Notification & { readonly read: boolean };

/**
 * Creates a notification at `now`, with `id` when given (derived from an Idempotency-Key), else
 * a fresh random one.
 */
export const createNotification = (
  from: User,
  to: User,
  message: string,
  now: Date = new Date(),
  id: string = randomUUID(),
): Notification => ({
  id,
  from,
  to,
  message,
  createdAt: now.toISOString(),
});
