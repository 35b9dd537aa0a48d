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

export const MessageSchema = z.string().check(
  z.refine((m) => m.trim().length > 0, { error: 'must not be empty' }),
  z.refine((m) => characterCount(m) <= MAX_MESSAGE_CHARS, {
    error: `must be at most ${MAX_MESSAGE_CHARS} characters`,
  }),
);

/**
 * A notification as published to Kafka and stored in the inbox.
 * Field names are compatible with the demo's (`from`, `to`, `message`).
 */
export const NotificationSchema = z.object({
  id: z.uuid(),
  from: UserSchema,
  to: UserSchema,
  message: MessageSchema,
  createdAt: z.iso.datetime(),
});
export type Notification = z.infer<typeof NotificationSchema>;

/** Creates a notification with a fresh id and the current time. */
export const createNotification = (
  from: User,
  to: User,
  message: string,
  now: Date = new Date(),
): Notification => ({
  id: randomUUID(),
  from,
  to,
  message,
  createdAt: now.toISOString(),
});
