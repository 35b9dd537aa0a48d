import {
  DynamoDBClient,
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { NotificationNotFoundError, RetriableError, ValidationError } from '../../shared/errors.js';
import { errorResponse } from '../../shared/http.js';
import { decodeCursor, encodeCursor } from '../../shared/inbox/cursor.js';
import { inboxKeyOf, timelineOf, toItem } from '../../shared/inbox/inbox-table.js';
import { InboxStore, type RetryOptions } from '../../shared/inbox/store.js';
import type { StoredNotification } from '../../shared/inbox/types.js';
import { createNotification, type InboxNotification } from '../../shared/models/index.js';
import { silentLogger } from '../helpers/logger.js';

const TABLE = 'inbox-test';
const emma = { id: 1, name: 'Emma' };
const bruno = { id: 2, name: 'Bruno' };
const T0 = Date.parse('2026-11-24T12:00:00.000Z');

const dynamo = mockClient(DynamoDBDocumentClient);
beforeEach(() => {
  dynamo.reset();
});

/** Records the backoff delays asked for instead of waiting; jitter draws 0.5. */
const setup = (retry: RetryOptions = {}) => {
  const delays: number[] = [];
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }),
  );
  const store = new InboxStore(client, TABLE, silentLogger(), {
    sleep: async (ms) => {
      delays.push(ms);
    },
    random: () => 0.5,
    ...retry,
  });
  return { store, delays };
};

/** `count` notifications to Emma on partition 0, offsets 0.., one second apart. */
const storedItems = (count: number): StoredNotification[] =>
  Array.from({ length: count }, (_, i) => ({
    notification: createNotification(bruno, emma, `message ${i}`, new Date(T0 + i * 1000)),
    partition: 0,
    offset: String(i),
  }));

/** `list[index]`, which the test knows is there. */
const nth = <T>(list: readonly T[], index: number): T => {
  const value = list[index];
  if (value === undefined) throw new Error(`no item at ${index}`);
  return value;
};

type PutRequests = { PutRequest: { Item: Record<string, unknown> } }[];
const requestsOf = (call: number): PutRequests =>
  (dynamo.commandCalls(BatchWriteCommand)[call]?.args[0].input.RequestItems?.[TABLE] ??
    []) as PutRequests;
const offsetsOf = (requests: PutRequests) => requests.map((r) => r.PutRequest.Item.offset);

/** An item as the consumer writes it: still unread. */
const itemOf = (stored: StoredNotification) => toItem(stored);

/** The key of a stored notification's item. */
const keyOf = (stored: StoredNotification) => inboxKeyOf(stored.notification);

/** Its place in the timeline index: what a cursor holds. */
const positionOf = (stored: StoredNotification) => ({
  ...keyOf(stored),
  timeline: timelineOf(stored),
});

const throttled = () =>
  new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });

describe('InboxStore.save', () => {
  it('writes 60 notifications in 3 BatchWrite calls of at most 25, after 1 BatchGet', async () => {
    const { store } = setup();
    dynamo.on(BatchWriteCommand).resolves({ UnprocessedItems: {} });
    const items = storedItems(60);
    expect(await store.save(items)).toEqual({ calls: 4, refused: [] });
    expect(dynamo.commandCalls(BatchGetCommand)[0]?.args[0].input.RequestItems?.[TABLE]).toEqual({
      Keys: items.map(keyOf),
      ConsistentRead: true,
      ProjectionExpression: '#pk, #id',
      ExpressionAttributeNames: { '#pk': 'userId', '#id': 'id' },
    });
    const sizes = [0, 1, 2].map((i) => requestsOf(i).length);
    expect(sizes.sort()).toEqual([10, 25, 25]);
    const written = [0, 1, 2].flatMap((i) => offsetsOf(requestsOf(i)));
    expect(written.sort()).toEqual(items.map((i) => i.offset).sort());
  });

  it('stores the notification fields under its id, its place in the timeline and its Kafka position', async () => {
    const { store } = setup();
    dynamo.on(BatchWriteCommand).resolves({});
    const [item] = storedItems(1);
    if (!item) throw new Error('no item');
    await store.save([{ ...item, partition: 2, offset: '9007199254740993' }]);
    expect(requestsOf(0)).toEqual([
      {
        PutRequest: {
          Item: {
            userId: 1,
            id: item.notification.id,
            timeline: `${item.notification.createdAt}#00002#00009007199254740993`,
            unread: `${item.notification.createdAt}#00002#00009007199254740993`,
            from: { id: 2, name: 'Bruno' },
            to: { id: 1, name: 'Emma' },
            message: 'message 0',
            createdAt: item.notification.createdAt,
            partition: 2,
            offset: '9007199254740993',
            // Its time to live: createdAt plus the retention (90 days by default).
            expiresAt: Math.floor(Date.parse(item.notification.createdAt) / 1000) + 90 * 86_400,
          },
        },
      },
    ]);
  });

  it('writes a record delivered twice in one batch once, as DynamoDB refuses duplicate keys', async () => {
    const { store } = setup();
    dynamo.on(BatchWriteCommand).resolves({});
    const items = storedItems(25);
    const first = items[0];
    if (!first) throw new Error('no item');
    expect(await store.save([...items, { ...first }])).toEqual({ calls: 2, refused: [] });
    expect(offsetsOf(requestsOf(0)).sort()).toEqual(items.map((i) => i.offset).sort());
  });

  it('writes two records of one notification in one batch once: the first, later ones skipped', async () => {
    const { store } = setup();
    dynamo.on(BatchWriteCommand).resolves({});
    const [first, other] = storedItems(2);
    if (!first || !other) throw new Error('no item');
    // A client's retry after a 503 in doubt: the same id again, later, at another offset.
    const retried: StoredNotification = {
      notification: { ...first.notification, createdAt: new Date(T0 + 5_000).toISOString() },
      partition: 0,
      offset: '7',
    };
    expect(await store.save([first, other, retried])).toEqual({ calls: 2, refused: [] });
    expect(
      dynamo.commandCalls(BatchGetCommand)[0]?.args[0].input.RequestItems?.[TABLE]?.Keys,
    ).toEqual([keyOf(first), keyOf(other)]);
    expect(requestsOf(0).map((r) => r.PutRequest.Item)).toEqual([itemOf(first), itemOf(other)]);
  });

  it('never writes a record whose notification is stored already, from whichever record', async () => {
    const { store } = setup();
    const [first] = storedItems(1);
    if (!first) throw new Error('no item');
    dynamo.on(BatchGetCommand).resolves({ Responses: { [TABLE]: [keyOf(first)] } });
    const retried = { ...first, offset: '99' };
    expect(await store.save([retried])).toEqual({ calls: 1, refused: [] });
    expect(dynamo.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('never writes again what is stored already, so that a redelivery keeps the read state', async () => {
    const { store } = setup();
    const items = storedItems(4);
    const [first, , third] = items;
    if (!first || !third) throw new Error('no item');
    dynamo.on(BatchGetCommand).resolves({
      Responses: { [TABLE]: [keyOf(first), keyOf(third)] },
    });
    dynamo.on(BatchWriteCommand).resolves({});
    expect(await store.save(items)).toEqual({ calls: 2, refused: [] });
    expect(offsetsOf(requestsOf(0))).toEqual(['1', '3']);
  });

  it('writes nothing when every record is stored already', async () => {
    const { store } = setup();
    const items = storedItems(3);
    dynamo.on(BatchGetCommand).resolves({ Responses: { [TABLE]: items.map(keyOf) } });
    expect(await store.save(items)).toEqual({ calls: 1, refused: [] });
    expect(dynamo.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('makes no call for nothing', async () => {
    const { store } = setup();
    expect(await store.save([])).toEqual({ calls: 0, refused: [] });
    expect(dynamo.calls()).toHaveLength(0);
  });

  it('retries only the unprocessed items, with growing jittered delays', async () => {
    const { store, delays } = setup();
    const items = storedItems(5);
    const unprocessed = (offsets: number[]) => ({
      UnprocessedItems: {
        [TABLE]: offsets.map((o) => ({ PutRequest: { Item: itemOf(nth(items, o)) } })),
      },
    });
    dynamo
      .on(BatchWriteCommand)
      .resolvesOnce(unprocessed([1, 3, 4]))
      .resolvesOnce(unprocessed([4]))
      .resolvesOnce({ UnprocessedItems: {} });
    expect(await store.save(items)).toEqual({ calls: 4, refused: [] });
    expect(offsetsOf(requestsOf(1))).toEqual(['1', '3', '4']);
    expect(offsetsOf(requestsOf(2))).toEqual(['4']);
    // Full jitter at 0.5 of min(2 s, 50 ms * 2^(attempt-1)).
    expect(delays).toEqual([25, 50]);
  });

  it('gives up after 8 calls with a RetriableError, delays capped at 2 s', async () => {
    const { store, delays } = setup();
    const [item] = storedItems(1);
    if (!item) throw new Error('no item');
    dynamo
      .on(BatchWriteCommand)
      .resolves({ UnprocessedItems: { [TABLE]: [{ PutRequest: { Item: itemOf(item) } }] } });
    const saving = store.save([item]);
    await expect(saving).rejects.toThrow(RetriableError);
    await expect(saving).rejects.toThrow('1 of 1 notifications were still unprocessed after 8');
    expect(dynamo.commandCalls(BatchWriteCommand)).toHaveLength(8);
    expect(delays).toEqual([25, 50, 100, 200, 400, 800, 1000]);
  });

  it('honours the retry settings it is given', async () => {
    const { store, delays } = setup({ maxAttempts: 2, baseDelayMs: 10, random: () => 0.99 });
    const [item] = storedItems(1);
    if (!item) throw new Error('no item');
    dynamo
      .on(BatchWriteCommand)
      .resolves({ UnprocessedItems: { [TABLE]: [{ PutRequest: { Item: itemOf(item) } }] } });
    await expect(store.save([item])).rejects.toBeInstanceOf(RetriableError);
    expect(dynamo.commandCalls(BatchWriteCommand)).toHaveLength(2);
    expect(delays).toEqual([9]);
  });

  it.each([
    ['ProvisionedThroughputExceededException', throttled()],
    [
      'ThrottlingException',
      Object.assign(new Error('Throughput exceeds the limit'), { name: 'ThrottlingException' }),
    ],
    [
      'RequestLimitExceeded',
      new RequestLimitExceeded({ message: 'Too many requests', $metadata: {} }),
    ],
    [
      'InternalServerError (500)',
      new InternalServerError({ message: 'Internal error', $metadata: {} }),
    ],
    [
      'an unmodelled 503',
      Object.assign(new Error('Service Unavailable'), { $metadata: { httpStatusCode: 503 } }),
    ],
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ],
    [
      'a timeout',
      Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' }),
    ],
  ])('fails the batch with a retriable RetriableError on %s', async (_, error) => {
    const { store } = setup();
    dynamo.on(BatchWriteCommand).rejects(error);
    const saving = store.save(storedItems(30));
    await expect(saving).rejects.toBeInstanceOf(RetriableError);
    await expect(saving).rejects.toMatchObject({ retriable: true, cause: error });
    // What it means to an HTTP client: a 503.
    const failure = await saving.catch((e: unknown) => e);
    expect(errorResponse(failure, silentLogger()).statusCode).toBe(503);
  });

  it('lets an error that is neither passing nor about an item (no such table) through as it is', async () => {
    const { store } = setup();
    const missing = Object.assign(new Error('Requested resource not found'), {
      name: 'ResourceNotFoundException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    dynamo.on(BatchWriteCommand).rejects(missing);
    await expect(store.save(storedItems(1))).rejects.toBe(missing);
  });

  it.each([
    ['ValidationException', 'Item size has exceeded the maximum allowed size'],
    ['ItemCollectionSizeLimitExceededException', 'Item collection size limit exceeded'],
  ])(
    'finds the item a %s is about by writing each one, names it refused, and writes the others',
    async (name, message) => {
      const { store } = setup();
      const refusal = Object.assign(new Error(message), {
        name,
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
      const items = storedItems(3);
      const bad = items[1]?.notification.id;
      dynamo.on(BatchWriteCommand).rejects(refusal);
      dynamo.on(PutCommand).callsFake((input: { Item: { id: string } }) => {
        if (input.Item.id === bad) throw refusal;
        return {};
      });
      const outcome = await store.save(items);
      expect(outcome.refused).toEqual([
        { item: items[1], reason: `the inbox refused it: ${name}: ${message}` },
      ]);
      const puts = dynamo.commandCalls(PutCommand).map((c) => c.args[0].input);
      expect(puts.map((p) => p.Item?.id)).toEqual(items.map((i) => i.notification.id));
      // Only where no item has the key yet: a redelivered one never overwrites its read state.
      expect(puts[0]?.ConditionExpression).toBe('attribute_not_exists(#id)');
    },
  );

  it('stops taking chunks once one has failed, and waits for those in flight', async () => {
    const { store } = setup();
    dynamo.on(BatchWriteCommand).rejectsOnce(throttled()).resolves({});
    await expect(store.save(storedItems(25 * 10))).rejects.toBeInstanceOf(RetriableError);
    // 4 chunks were in flight together; none was started after the failure.
    expect(dynamo.commandCalls(BatchWriteCommand)).toHaveLength(4);
  });
});

describe('InboxStore.list', () => {
  const notificationsOf = (items: readonly StoredNotification[]): InboxNotification[] =>
    items.map((i) => ({ ...i.notification, read: false }));
  /** Items as DynamoDB returns them, newest first. */
  const newestFirst = (items: readonly StoredNotification[]) => items.map(itemOf).reverse();

  it("queries the user's timeline newest first, one more than the limit, and trims to the limit", async () => {
    const { store } = setup();
    const items = storedItems(3);
    dynamo.on(QueryCommand).resolves({ Items: newestFirst(items) });
    const page = await store.list(1, { limit: 2 });
    expect(dynamo.commandCalls(QueryCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      IndexName: 'timeline',
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'userId' },
      ExpressionAttributeValues: { ':pk': 1 },
      ScanIndexForward: false,
      Limit: 3,
    });
    expect(page.notifications).toEqual(notificationsOf(items).reverse().slice(0, 2));
    expect(page.nextCursor).toBe(encodeCursor(positionOf(nth(items, 1))));
  });

  it('returns exactly the notification fields, without timeline or Kafka position', async () => {
    const { store } = setup();
    const items = storedItems(1);
    dynamo.on(QueryCommand).resolves({ Items: newestFirst(items) });
    const { notifications } = await store.list(1, { limit: 5 });
    expect(notifications).toEqual(notificationsOf(items));
    expect(Object.keys(notifications[0] ?? {})).toEqual([
      'id',
      'from',
      'to',
      'message',
      'createdAt',
      'read',
    ]);
  });

  it('starts after the cursor and leaves nextCursor out when nothing older remains', async () => {
    const { store } = setup();
    const items = storedItems(3);
    const cursor = encodeCursor(positionOf(nth(items, 2)));
    dynamo.on(QueryCommand).resolves({ Items: newestFirst(items.slice(0, 2)) });
    const page = await store.list(1, { limit: 2, cursor });
    expect(dynamo.commandCalls(QueryCommand)[0]?.args[0].input.ExclusiveStartKey).toEqual(
      positionOf(nth(items, 2)),
    );
    expect(page.notifications).toHaveLength(2);
    expect(page).not.toHaveProperty('nextCursor');
  });

  it("goes on from DynamoDB's LastEvaluatedKey when a page stopped short at 1 MB", async () => {
    const { store } = setup();
    const items = storedItems(3);
    const last = positionOf(nth(items, 1));
    dynamo.on(QueryCommand).resolves({
      Items: newestFirst(items.slice(1)),
      LastEvaluatedKey: { ...last },
    });
    const page = await store.list(1, { limit: 10 });
    expect(page.nextCursor).toBe(encodeCursor(last));
  });

  it('refuses an item that is not a valid notification instead of trusting it', async () => {
    const { store } = setup();
    const [item] = newestFirst(storedItems(1));
    dynamo.on(QueryCommand).resolves({ Items: [{ ...item, to: { id: 1 } }] });
    await expect(store.list(1, { limit: 1 })).rejects.toThrow(
      /is not a valid notification: to\.name/,
    );
  });

  it.each([
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ],
    ['throttling', throttled()],
    ['a timeout', Object.assign(new Error('socket hang up'), { name: 'TimeoutError' })],
  ])('answers %s with RetriableError and a retry delay', async (_, error) => {
    const { store } = setup();
    dynamo.on(QueryCommand).rejects(error);
    const listing = store.list(1, { limit: 1 });
    await expect(listing).rejects.toBeInstanceOf(RetriableError);
    await expect(listing).rejects.toMatchObject({ retryAfterSeconds: 1, cause: error });
  });

  it('refuses a bad cursor before asking DynamoDB', async () => {
    const { store } = setup();
    await expect(store.list(1, { limit: 1, cursor: 'nope' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(dynamo.calls()).toHaveLength(0);
  });
});

describe('InboxStore.markRead', () => {
  const id = '3f1c2b0e-5d4a-4e8f-9b7c-1a2d3e4f5a6b';
  const conditionFailed = () =>
    Object.assign(new Error('The conditional request failed'), {
      name: 'ConditionalCheckFailedException',
    });

  it('updates the item by its key in one call, never creating one, then counts', async () => {
    const { store } = setup();
    dynamo.on(UpdateCommand).resolves({ Attributes: { unread: 'x' } });
    dynamo.on(QueryCommand).resolves({ Count: 2 });
    expect(await store.markRead(1, id)).toEqual({ ids: [id], unreadCount: 2 });
    expect(dynamo.commandCalls(UpdateCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { userId: 1, id },
      UpdateExpression: 'REMOVE #unread SET #readAt = if_not_exists(#readAt, :now)',
      ConditionExpression: 'attribute_exists(#id)',
      ExpressionAttributeNames: { '#id': 'id', '#unread': 'unread', '#readAt': 'readAt' },
      ExpressionAttributeValues: { ':now': expect.any(String) },
      ReturnValues: 'UPDATED_OLD',
    });
    expect(dynamo.commandCalls(QueryCommand)[0]?.args[0].input.IndexName).toBe('unread');
  });

  it('changes nothing for a notification read already', async () => {
    const { store } = setup();
    dynamo.on(UpdateCommand).resolves({});
    dynamo.on(QueryCommand).resolves({ Count: 0 });
    expect(await store.markRead(1, id)).toEqual({ ids: [], unreadCount: 0 });
  });

  it('answers an id the user has no notification with as not found', async () => {
    const { store } = setup();
    dynamo.on(UpdateCommand).rejects(conditionFailed());
    await expect(store.markRead(1, id)).rejects.toBeInstanceOf(NotificationNotFoundError);
    expect(dynamo.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it('answers a store that does not answer with RetriableError', async () => {
    const { store } = setup();
    dynamo.on(UpdateCommand).rejects(throttled());
    await expect(store.markRead(1, id)).rejects.toBeInstanceOf(RetriableError);
  });
});

describe('InboxStore.markAllRead', () => {
  it('marks each unread one by its key and reports those it changed', async () => {
    const { store } = setup();
    const [a, b] = storedItems(2).map(keyOf);
    if (!a || !b) throw new Error('no item');
    dynamo
      .on(QueryCommand, { Select: 'COUNT' })
      .resolves({ Count: 0 })
      .on(QueryCommand, { Limit: 500 })
      .resolves({
        Items: [
          { ...a, unread: 'x' },
          { ...b, unread: 'y' },
        ],
      });
    dynamo
      .on(UpdateCommand, { Key: a })
      .resolves({ Attributes: { unread: 'x' } })
      .on(UpdateCommand, { Key: b })
      .resolves({});
    expect(await store.markAllRead(1)).toEqual({ ids: [a.id], unreadCount: 0 });
    expect(dynamo.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key)).toEqual([a, b]);
  });
});

describe('cursor', () => {
  const key = {
    userId: 1,
    id: '3f1c2b0e-5d4a-4e8f-9b7c-1a2d3e4f5a6b',
    timeline: '2026-11-24T12:00:00.000Z#00002#00000000000000000042',
  };
  const cursorOf = (value: unknown) =>
    Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

  it('is URL-safe base64 of the key, and decodes to it', () => {
    const cursor = encodeCursor(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).toBe(cursorOf(key));
    expect(decodeCursor(cursor, 1)).toEqual(key);
  });

  it.each([
    ['not base64url', 'abc+/def'],
    ['padded base64', `${cursorOf(key)}=`],
    ['not JSON', Buffer.from('{userId:1').toString('base64url')],
    ['JSON of another shape', cursorOf([1, key.timeline])],
    ['a key without timeline', cursorOf({ userId: 1, id: key.id })],
    ['a key without id', cursorOf({ userId: 1, timeline: key.timeline })],
    ['a key of the table before ids were its key', cursorOf({ userId: 1, sk: key.timeline })],
    ['a key with an extra field', cursorOf({ ...key, admin: true })],
    ['a user id as text', cursorOf({ ...key, userId: '1' })],
    ['an id that is not a UUID', cursorOf({ ...key, id: 'abc' })],
    ['a timeline of another format', cursorOf({ ...key, timeline: '2026-11-24' })],
    ['something very long', 'A'.repeat(600)],
  ])('refuses %s with a 400 on field cursor', (_, cursor) => {
    let error: unknown;
    try {
      decodeCursor(cursor, 1);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      {
        field: 'cursor',
        message: expect.stringMatching(
          /^expected the nextCursor of an earlier page, unchanged; received "/,
        ),
      },
    ]);
  });

  it("refuses another user's cursor", () => {
    expect(() => decodeCursor(encodeCursor(key), 2)).toThrow(
      "cursor: was issued for another user's notifications",
    );
  });
});
