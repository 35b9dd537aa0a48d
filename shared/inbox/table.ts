import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import * as z from 'zod/mini';
import { InvalidInboxItemError } from '../errors.js';
import { describeIssues, NotificationSchema, UserIdSchema } from '../models/index.js';
import type { InboxNotification, StoredNotification } from './types.js';

/**
 * The inbox table: one item per received notification. The partition key is the recipient's id,
 * so that one query reads one user's inbox; the sort key orders it by time and identifies the
 * Kafka record, so that a redelivered record overwrites its own item.
 */

/** Attribute names of the table's key. */
export const INBOX_KEY = { partition: 'userId', sort: 'sk' } as const;

/**
 * The two local secondary indexes, both keys only. An LSI (rather than a GSI) because both are
 * read right after a write and must see it: LSI queries can be strongly consistent, GSI queries
 * never are (DynamoDB developer guide, `LSI`).
 *
 * - `unread` is sparse: its sort key, the `unread` attribute (a copy of `sk`), is on an item only
 *   while the notification is unread, so counting a user's unread ones reads only those.
 * - `byId` finds a notification of one user by its public `id`; another user's id is simply not
 *   in that user's partition.
 */
export const INBOX_INDEX = {
  unread: { name: 'unread', sort: 'unread' },
  byId: { name: 'byId', sort: 'id' },
} as const;

/** Digits the Kafka partition and offset are zero-padded to, so that they sort as text. */
export const SORT_KEY_DIGITS = { PARTITION: 5, OFFSET: 20 } as const;

/** A sort key: `createdAt#partition#offset`, such as `2026-11-24T12:00:00.000Z#00002#00000000000000000042`. */
export const SORT_KEY_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#\d{5}#\d{20}$/;

/**
 * Key schema, attribute types and billing of the table, shared by `CreateTable` offline and the
 * CloudFormation resource `InboxTable` (a unit test holds the two equal).
 */
export const INBOX_TABLE = {
  AttributeDefinitions: [
    { AttributeName: INBOX_KEY.partition, AttributeType: 'N' },
    { AttributeName: INBOX_KEY.sort, AttributeType: 'S' },
    { AttributeName: INBOX_INDEX.unread.sort, AttributeType: 'S' },
    { AttributeName: INBOX_INDEX.byId.sort, AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: INBOX_KEY.partition, KeyType: 'HASH' },
    { AttributeName: INBOX_KEY.sort, KeyType: 'RANGE' },
  ],
  LocalSecondaryIndexes: [INBOX_INDEX.unread, INBOX_INDEX.byId].map((index) => ({
    IndexName: index.name,
    KeySchema: [
      { AttributeName: INBOX_KEY.partition, KeyType: 'HASH' as const },
      { AttributeName: index.sort, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'KEYS_ONLY' as const },
  })),
  BillingMode: 'PAY_PER_REQUEST',
} as const;

/** The `CreateTable` input for an inbox table named `tableName`. */
export const inboxTableInput = (tableName: string): CreateTableCommandInput => ({
  TableName: tableName,
  AttributeDefinitions: INBOX_TABLE.AttributeDefinitions.map((a) => ({ ...a })),
  KeySchema: INBOX_TABLE.KeySchema.map((k) => ({ ...k })),
  LocalSecondaryIndexes: INBOX_TABLE.LocalSecondaryIndexes.map((i) => ({
    IndexName: i.IndexName,
    KeySchema: i.KeySchema.map((k) => ({ ...k })),
    Projection: { ...i.Projection },
  })),
  BillingMode: INBOX_TABLE.BillingMode,
});

/** The key of one item, checked. */
export const InboxKeySchema = z.strictObject({
  userId: UserIdSchema,
  sk: z.string().check(z.regex(SORT_KEY_PATTERN)),
});

/** The key of one item. */
export interface InboxKey {
  readonly userId: number;
  readonly sk: string;
}

/**
 * The key of a stored notification: the recipient's id, and
 * `${createdAt}#${partition, 5 digits}#${offset, 20 digits}`.
 *
 * `createdAt` is rewritten as `toISOString` does (UTC, milliseconds), so that keys sort by time
 * as text; queried with `ScanIndexForward=false`, the newest come first. The Kafka position breaks
 * ties: a batch of notifications shares one `createdAt`, and one recipient's records all live on
 * one partition (they are keyed by recipient), where offsets grow. It depends only on the record,
 * so a redelivered record gets the same key.
 */
export const inboxKeyOf = ({ notification, partition, offset }: StoredNotification): InboxKey => {
  if (
    !Number.isInteger(partition) ||
    partition < 0 ||
    partition >= 10 ** SORT_KEY_DIGITS.PARTITION
  ) {
    throw new RangeError(
      `Kafka partition must be a whole number from 0 to ${10 ** SORT_KEY_DIGITS.PARTITION - 1}; received ${partition}`,
    );
  }
  if (!/^\d+$/.test(offset) || offset.length > SORT_KEY_DIGITS.OFFSET) {
    throw new RangeError(
      `Kafka offset must be at most ${SORT_KEY_DIGITS.OFFSET} digits; received "${offset}"`,
    );
  }
  const createdAt = new Date(notification.createdAt);
  if (Number.isNaN(createdAt.getTime())) {
    throw new RangeError(
      `createdAt must be an ISO 8601 date; received "${notification.createdAt}"`,
    );
  }
  return {
    userId: notification.to.id,
    sk: [
      createdAt.toISOString(),
      String(partition).padStart(SORT_KEY_DIGITS.PARTITION, '0'),
      offset.padStart(SORT_KEY_DIGITS.OFFSET, '0'),
    ].join('#'),
  };
};

/** An item as the document client reads it. */
export type InboxItem = Readonly<Record<string, unknown>>;

/** An item's issues name `(item)` for the item itself. */
const ITEM = { root: '(item)' } as const;

/**
 * The item of a newly stored notification under `key`: the notification's fields (`id`, `from`,
 * `to`, `message`, `createdAt`), its Kafka position, and `unread` (it enters the `unread` index).
 */
export const toItem = (key: InboxKey, { notification, partition, offset }: StoredNotification) => ({
  [INBOX_KEY.partition]: key.userId,
  [INBOX_KEY.sort]: key.sk,
  [INBOX_INDEX.unread.sort]: key.sk,
  id: notification.id,
  from: { id: notification.from.id, name: notification.from.name },
  to: { id: notification.to.id, name: notification.to.name },
  message: notification.message,
  createdAt: notification.createdAt,
  partition,
  offset,
});

/**
 * The key of an item read back.
 * @throws InvalidInboxItemError when it has none that this table's keys could be
 */
export const keyOfItem = (item: InboxItem): InboxKey => {
  const parsed = InboxKeySchema.safeParse({
    userId: item[INBOX_KEY.partition],
    sk: item[INBOX_KEY.sort],
  });
  if (!parsed.success) {
    throw new InvalidInboxItemError(
      `The inbox returned an item without a valid key: ${describeIssues(parsed.error.issues, ITEM)}`,
    );
  }
  return parsed.data;
};

/**
 * The notification an item holds, checked against the schema (items are data, not types), with
 * its read flag: read once the item has left the `unread` index.
 * @throws InvalidInboxItemError when it is not a valid notification
 */
export const toNotification = (item: InboxItem): InboxNotification => {
  const parsed = NotificationSchema.safeParse({
    id: item.id,
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
