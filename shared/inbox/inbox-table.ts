import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import * as z from 'zod/mini';
import { tableInput } from '../aws/table-input.js';
import { InvalidInboxItemError } from '../errors.js';
import {
  describeIssues,
  type InboxNotification,
  type Notification,
  NotificationIdSchema,
  NotificationSchema,
  UserIdSchema,
} from '../models/index.js';
import type { StoredNotification } from './types.js';

/**
 * The inbox table: one item per notification, whatever number of Kafka records carried it. The
 * partition key is the recipient's id, so that one query reads one user's inbox; the sort key is
 * the notification's id, so that a notification is stored once even when Kafka holds it twice
 * (a redelivered record, or a client's retry after a 503 in doubt, which publishes the same id
 * again: shared/idempotency/notification-ids.ts).
 */

/** Attribute names of the table's key. */
export const INBOX_KEY = { partition: 'userId', sort: 'id' } as const;

/**
 * The two local secondary indexes. Local (rather than global) because both are read right after
 * a write and must see it: LSI queries can be strongly consistent, GSI queries never are
 * (DynamoDB developer guide, `LSI`).
 *
 * - `timeline` orders a user's notifications by time (`createdAt#partition#offset`): the inbox is
 *   listed from it, newest first. It projects every attribute, so that a page is one query;
 *   keys only would cost a `BatchGetItem` of the table per page.
 * - `unread` is sparse: its sort key, the `unread` attribute (a copy of `timeline`), is on an item
 *   only while the notification is unread, so counting a user's unread ones reads only those.
 */
export const INBOX_INDEX = {
  timeline: { name: 'timeline', sort: 'timeline', projection: 'ALL' },
  unread: { name: 'unread', sort: 'unread', projection: 'KEYS_ONLY' },
} as const;

/** Digits the Kafka partition and offset are zero-padded to, so that they sort as text. */
export const TIMELINE_DIGITS = { PARTITION: 5, OFFSET: 20 } as const;

/** A timeline key: `createdAt#partition#offset`, such as `2026-11-24T12:00:00.000Z#00002#00000000000000000042`. */
export const TIMELINE_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#\d{5}#\d{20}$/;

/**
 * Key schema, attribute types and billing of the table, shared by `CreateTable` offline and the
 * CloudFormation resource `InboxTable` (a unit test holds the two equal).
 */
export const INBOX_TABLE = {
  AttributeDefinitions: [
    { AttributeName: INBOX_KEY.partition, AttributeType: 'N' },
    { AttributeName: INBOX_KEY.sort, AttributeType: 'S' },
    { AttributeName: INBOX_INDEX.timeline.sort, AttributeType: 'S' },
    { AttributeName: INBOX_INDEX.unread.sort, AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: INBOX_KEY.partition, KeyType: 'HASH' },
    { AttributeName: INBOX_KEY.sort, KeyType: 'RANGE' },
  ],
  LocalSecondaryIndexes: [INBOX_INDEX.timeline, INBOX_INDEX.unread].map((index) => ({
    IndexName: index.name,
    KeySchema: [
      { AttributeName: INBOX_KEY.partition, KeyType: 'HASH' as const },
      { AttributeName: index.sort, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: index.projection },
  })),
  BillingMode: 'PAY_PER_REQUEST',
} as const;

/** The `CreateTable` input for an inbox table named `tableName`. */
/**
 * The attribute DynamoDB's time to live reads (epoch seconds): a notification's `createdAt` plus
 * the retention. DynamoDB deletes an expired item typically within two days (DynamoDB API
 * reference, `UpdateTimeToLive`), from the table and its local indexes alike, so that no inbox
 * grows without bound (a user's item collection, table and local indexes, is capped at 10 GB).
 */
export const INBOX_EXPIRES_AT = 'expiresAt';

/** How long a notification is kept, by default (`INBOX_RETENTION_DAYS`). */
export const INBOX_RETENTION_DAYS = 90;

export const inboxTableInput = (tableName: string): CreateTableCommandInput =>
  tableInput(tableName, INBOX_TABLE);

/** The key of one item: whose notification, and which. */
export interface InboxKey {
  readonly userId: number;
  readonly id: string;
}

/** An item's place in its user's timeline: the key of the `timeline` index, the table's included. */
export interface TimelinePosition extends InboxKey {
  readonly timeline: string;
}

/** An item's key, checked. */
export const InboxKeySchema = z.strictObject({
  userId: UserIdSchema,
  id: NotificationIdSchema,
});

/** An item's place in the timeline, checked: what a page of the inbox starts after. */
export const TimelinePositionSchema = z.strictObject({
  userId: UserIdSchema,
  id: NotificationIdSchema,
  timeline: z.string().check(z.regex(TIMELINE_PATTERN)),
});

/** The key of a notification's item: its recipient's id and its own. */
export const inboxKeyOf = (notification: Pick<Notification, 'id' | 'to'>): InboxKey => ({
  userId: notification.to.id,
  id: notification.id,
});

/**
 * A stored notification's place in its recipient's timeline:
 * `${createdAt}#${partition, 5 digits}#${offset, 20 digits}`.
 *
 * `createdAt` is rewritten as `toISOString` does (UTC, milliseconds), so that keys sort by time
 * as text; queried with `ScanIndexForward=false`, the newest come first. The Kafka position breaks
 * ties: a batch of notifications shares one `createdAt`, and one recipient's records all live on
 * one partition (they are keyed by recipient), where offsets grow.
 */
export const timelineOf = ({ notification, partition, offset }: StoredNotification): string => {
  if (
    !Number.isInteger(partition) ||
    partition < 0 ||
    partition >= 10 ** TIMELINE_DIGITS.PARTITION
  ) {
    throw new RangeError(
      `Kafka partition must be a whole number from 0 to ${10 ** TIMELINE_DIGITS.PARTITION - 1}; received ${partition}`,
    );
  }
  if (!/^\d+$/.test(offset) || offset.length > TIMELINE_DIGITS.OFFSET) {
    throw new RangeError(
      `Kafka offset must be at most ${TIMELINE_DIGITS.OFFSET} digits; received "${offset}"`,
    );
  }
  const createdAt = new Date(notification.createdAt);
  if (Number.isNaN(createdAt.getTime())) {
    throw new RangeError(
      `createdAt must be an ISO 8601 date; received "${notification.createdAt}"`,
    );
  }
  return [
    createdAt.toISOString(),
    String(partition).padStart(TIMELINE_DIGITS.PARTITION, '0'),
    offset.padStart(TIMELINE_DIGITS.OFFSET, '0'),
  ].join('#');
};

/** An item as the document client reads it. */
export type InboxItem = Readonly<Record<string, unknown>>;

/** An item's issues name `(item)` for the item itself. */
const ITEM = { root: '(item)' } as const;

/**
 * The item of a newly stored notification: its key, its place in the timeline, the
 * notification's fields (`from`, `to`, `message`, `createdAt`), the Kafka position of the record
 * it was stored from, and `unread` (it enters the `unread` index).
 */
export const toItem = (stored: StoredNotification, retentionDays = INBOX_RETENTION_DAYS) => {
  const { notification, partition, offset } = stored;
  const timeline = timelineOf(stored);
  const created = Math.floor(new Date(notification.createdAt).getTime() / 1000);
  return {
    [INBOX_KEY.partition]: notification.to.id,
    [INBOX_KEY.sort]: notification.id,
    [INBOX_INDEX.timeline.sort]: timeline,
    [INBOX_INDEX.unread.sort]: timeline,
    from: { id: notification.from.id, name: notification.from.name },
    to: { id: notification.to.id, name: notification.to.name },
    message: notification.message,
    createdAt: notification.createdAt,
    partition,
    offset,
    [INBOX_EXPIRES_AT]: created + retentionDays * 24 * 60 * 60,
  };
};

const invalidKey = (issues: Parameters<typeof describeIssues>[0]) =>
  new InvalidInboxItemError(
    `The inbox returned an item without a valid key: ${describeIssues(issues, ITEM)}`,
  );

/**
 * The key of an item read back.
 * @throws InvalidInboxItemError when it has none that this table's keys could be
 */
export const keyOfItem = (item: InboxItem): InboxKey => {
  const parsed = InboxKeySchema.safeParse({
    userId: item[INBOX_KEY.partition],
    id: item[INBOX_KEY.sort],
  });
  if (!parsed.success) throw invalidKey(parsed.error.issues);
  return parsed.data;
};

/**
 * The place in the timeline of an item read back from the `timeline` index.
 * @throws InvalidInboxItemError when it has none
 */
export const positionOfItem = (item: InboxItem): TimelinePosition => {
  const parsed = TimelinePositionSchema.safeParse({
    userId: item[INBOX_KEY.partition],
    id: item[INBOX_KEY.sort],
    timeline: item[INBOX_INDEX.timeline.sort],
  });
  if (!parsed.success) throw invalidKey(parsed.error.issues);
  return parsed.data;
};

/**
 * The notification an item holds, checked against the schema (items are data, not types), with
 * its read flag: read once the item has left the `unread` index.
 * @throws InvalidInboxItemError when it is not a valid notification
 */
export const toNotification = (item: InboxItem): InboxNotification => {
  const parsed = NotificationSchema.safeParse({
    id: item[INBOX_KEY.sort],
    from: item.from,
    to: item.to,
    message: item.message,
    createdAt: item.createdAt,
  });
  if (!parsed.success) {
    throw new InvalidInboxItemError(
      `The inbox item ${String(item[INBOX_KEY.partition])}/${String(item[INBOX_KEY.sort])} is not a valid notification: ${describeIssues(parsed.error.issues, ITEM)}`,
    );
  }
  return { ...parsed.data, read: item[INBOX_INDEX.unread.sort] === undefined };
};
