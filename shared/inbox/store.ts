import type { Logger } from '@aws-lambda-powertools/logger';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { isTransientAwsError } from '../aws/transient-error.js';
import { NotificationNotFoundError, RetriableError } from '../errors.js';
import { forEachLimited } from '../limited.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import {
  INBOX_INDEX,
  INBOX_KEY,
  INBOX_RETENTION_DAYS,
  type InboxKey,
  inboxKeyOf,
  keyOfItem,
  positionOfItem,
  toItem,
  toNotification,
} from './inbox-table.js';
import { INBOX_RETRY_AFTER_SECONDS, INBOX_WRITE_DEFAULTS, READ_STATE_LIMITS } from './limits.js';
import type {
  InboxMarker,
  InboxPage,
  InboxReader,
  InboxWriter,
  ListOptions,
  MarkReadResult,
  RefusedNotification,
  SaveOutcome,
  StoredNotification,
} from './types.js';

/** Retries of unprocessed writes; `sleep` and `random` are there for tests. */
export interface RetryOptions {
  readonly maxAttempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1), as `Math.random` returns. */
  readonly random?: () => number;
}

const sleepFor = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

type WriteRequest = NonNullable<
  NonNullable<BatchWriteCommandOutput['UnprocessedItems']>[string]
>[number];

type KeysAndAttributes = NonNullable<BatchGetCommandOutput['UnprocessedKeys']>[string];

const keyString = (key: InboxKey): string => `${key.userId}#${key.id}`;

/**
 * What DynamoDB answers about one item that it will never take, however often it is asked:
 * `ValidationException` (the item is over 400 KB, say) and `ItemCollectionSizeLimitExceededException`
 * (the recipient's items, table and local indexes together, are over 10 GB: DynamoDB API
 * reference, `BatchWriteItem` errors). Either fails a whole `BatchWriteItem` call: its items are
 * then written one by one to find which. Any other error is passing (retried by the event source)
 * or ours (no such table, no permission), which a fix heals.
 */
const REFUSING_ERRORS = new Set([
  'ValidationException',
  'ItemCollectionSizeLimitExceededException',
]);

const refusesItems = (error: unknown): boolean =>
  error instanceof Error && REFUSING_ERRORS.has(error.name);

/** The key of a write request's item, as `keyString` writes it. */
const requestKey = (request: WriteRequest): string => {
  const item = request.PutRequest?.Item ?? {};
  return `${String(item[INBOX_KEY.partition])}#${String(item[INBOX_KEY.sort])}`;
};

type Chunk = readonly { readonly request: WriteRequest; readonly item: StoredNotification }[];

/**
 * The inbox in DynamoDB: idempotent batched writes for the consumer, paged reads with the unread
 * count for `GET /notifications/{userId}`, and the read state. One item per notification, keyed
 * by recipient and notification id, holding the notification's fields, its place in the
 * timeline, the Kafka position it was stored from, and `unread` while it is unread (inbox-table.ts:
 * the indexes).
 */
export class InboxStore implements InboxReader, InboxWriter, InboxMarker {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #logger: Logger;
  readonly #retry: Required<RetryOptions>;
  readonly #retentionDays: number;

  constructor(
    client: DynamoDBDocumentClient,
    tableName: string,
    logger: Logger,
    retry: RetryOptions = {},
    /** How long a stored notification is kept (its time to live, from `createdAt`). */
    retentionDays: number = INBOX_RETENTION_DAYS,
  ) {
    this.#retentionDays = retentionDays;
    this.#client = client;
    this.#tableName = tableName;
    this.#logger = logger;
    this.#retry = {
      maxAttempts: retry.maxAttempts ?? INBOX_WRITE_DEFAULTS.MAX_ATTEMPTS,
      baseDelayMs: retry.baseDelayMs ?? INBOX_WRITE_DEFAULTS.BASE_DELAY_MS,
      maxDelayMs: retry.maxDelayMs ?? INBOX_WRITE_DEFAULTS.MAX_DELAY_MS,
      sleep: retry.sleep ?? sleepFor,
      random: retry.random ?? Math.random,
    };
  }

  /**
   * Writes every notification not stored yet, in `BatchWriteItem` calls of up to 25 items, after
   * one strongly consistent `BatchGetItem` per 100 keys that finds those already stored. The key
   * is the notification's id, not the record's position: a Kafka record delivered again
   * (delivery is at least once), or a second record of the same notification (a client's retry
   * after a 503 in doubt publishes the same id again), never overwrites the item stored first,
   * and so never makes a notification its recipient has read unread again, nor shows it twice:
   * `BatchWriteItem` has no conditions, and a conditional `PutItem` per item would cost 25 times
   * the calls. Unprocessed items and keys are retried with exponential backoff and full jitter.
   * Resolves with the number of calls made, reads included.
   *
   * An item DynamoDB refuses for good (`REFUSING_ERRORS`) is not written and is named in
   * `refused`, so that the consumer dead-letters it and stores the rest: no record can stall its
   * partition.
   *
   * @throws RetriableError when the store throttles, fails or does not answer, or items remain
   * unprocessed after the last attempt: the Kafka batch should be delivered again.
   */
  async save(items: readonly StoredNotification[]): Promise<SaveOutcome> {
    // A batch must not name one key twice. The first record of a notification is the one kept,
    // as a later batch would keep it: the event lists each partition's records in offset order.
    const unique = new Map<string, { key: InboxKey; item: StoredNotification }>();
    for (const item of items) {
      const key = inboxKeyOf(item.notification);
      const k = keyString(key);
      if (!unique.has(k)) unique.set(k, { key, item });
    }
    if (unique.size === 0) return { calls: 0, refused: [] };
    const { stored, calls: reads } = await this.#storedKeys([...unique.values()].map((u) => u.key));
    const requests = [...unique.entries()]
      .filter(([k]) => !stored.has(k))
      .map(([, { item }]) => ({
        item,
        request: { PutRequest: { Item: toItem(item, this.#retentionDays) } } as WriteRequest,
      }));
    const chunks: Chunk[] = [];
    for (let i = 0; i < requests.length; i += INBOX_WRITE_DEFAULTS.BATCH_SIZE) {
      chunks.push(requests.slice(i, i + INBOX_WRITE_DEFAULTS.BATCH_SIZE));
    }

    let calls = 0;
    const refused: RefusedNotification[] = [];
    // Settles every call in flight before failing: nothing keeps writing after we return.
    await forEachLimited(chunks, INBOX_WRITE_DEFAULTS.CONCURRENCY, async (chunk) => {
      // Not `calls += await ...`: that reads `calls` before the other workers add theirs.
      const outcome = await this.#writeChunk(chunk);
      calls += outcome.calls;
      refused.push(...outcome.refused);
    });
    return { calls: reads + calls, refused };
  }

  /**
   * Writes a chunk's items one by one (`PutItem`, only where no item has the key yet, as the
   * batch's read found), after DynamoDB refused the chunk for one of them: the refused ones are
   * named, the others written.
   */
  async #writeEach(chunk: Chunk): Promise<SaveOutcome> {
    const refused: RefusedNotification[] = [];
    for (const { item, request } of chunk) {
      try {
        await this.#client.send(
          new PutCommand({
            TableName: this.#tableName,
            Item: request.PutRequest?.Item,
            ConditionExpression: 'attribute_not_exists(#id)',
            ExpressionAttributeNames: { '#id': INBOX_KEY.sort },
          }),
        );
      } catch (error) {
        if (error instanceof Error && error.name === 'ConditionalCheckFailedException') continue;
        if (!refusesItems(error)) throw this.#writeFailure(error);
        const { name, message } = error as Error;
        refused.push({ item, reason: `the inbox refused it: ${name}: ${message}` });
        this.#logger.warn('inbox refused a notification', {
          table: this.#tableName,
          notificationId: item.notification.id,
          toId: item.notification.to.id,
          partition: item.partition,
          offset: item.offset,
          error: name,
        });
      }
    }
    return { calls: chunk.length, refused };
  }

  /**
   * Which of `keys` are stored: strongly consistent `BatchGetItem` calls of up to 100 keys
   * (reading the keys only), unprocessed keys retried as unprocessed writes are.
   */
  async #storedKeys(keys: readonly InboxKey[]): Promise<{ stored: Set<string>; calls: number }> {
    const stored = new Set<string>();
    let calls = 0;
    for (let i = 0; i < keys.length; i += READ_STATE_LIMITS.BATCH_GET_SIZE) {
      let pending: KeysAndAttributes | undefined = {
        Keys: keys
          .slice(i, i + READ_STATE_LIMITS.BATCH_GET_SIZE)
          .map((k) => ({ [INBOX_KEY.partition]: k.userId, [INBOX_KEY.sort]: k.id })),
        ConsistentRead: true,
        ProjectionExpression: '#pk, #id',
        ExpressionAttributeNames: { '#pk': INBOX_KEY.partition, '#id': INBOX_KEY.sort },
      };
      for (let attempt = 1; pending?.Keys?.length; attempt++) {
        if (attempt > this.#retry.maxAttempts) {
          throw new RetriableError(
            `${pending.Keys.length} inbox keys were still unprocessed after ${attempt - 1} BatchGetItem calls; the table is throttling reads.`,
          );
        }
        if (attempt > 1) await this.#retry.sleep(this.#backoffMs(attempt - 1));
        let output: BatchGetCommandOutput;
        try {
          output = await this.#client.send(
            new BatchGetCommand({ RequestItems: { [this.#tableName]: pending } }),
          );
        } catch (error) {
          throw this.#writeFailure(error);
        }
        calls++;
        for (const item of output?.Responses?.[this.#tableName] ?? []) {
          stored.add(keyString(keyOfItem(item)));
        }
        pending = output?.UnprocessedKeys?.[this.#tableName];
      }
    }
    return { stored, calls };
  }

  /**
   * Writes one chunk, retrying what DynamoDB leaves unprocessed; resolves with the calls made and
   * the items DynamoDB refuses for good.
   */
  async #writeChunk(chunk: Chunk): Promise<SaveOutcome> {
    let pending = chunk.map((c) => c.request);
    for (let attempt = 1; ; attempt++) {
      let output: BatchWriteCommandOutput;
      try {
        output = await this.#client.send(
          new BatchWriteCommand({ RequestItems: { [this.#tableName]: pending } }),
        );
      } catch (error) {
        if (!refusesItems(error)) throw this.#writeFailure(error);
        // One of the pending items (at least) can never be written: find which, write the rest.
        // Unprocessed items come back as new objects: matched by key.
        const left = new Set(pending.map(requestKey));
        const outcome = await this.#writeEach(chunk.filter((c) => left.has(requestKey(c.request))));
        return { calls: attempt + outcome.calls, refused: outcome.refused };
      }
      pending = output.UnprocessedItems?.[this.#tableName] ?? [];
      if (pending.length === 0) return { calls: attempt, refused: [] };
      if (attempt >= this.#retry.maxAttempts) {
        const message = `${pending.length} of ${chunk.length} notifications were still unprocessed after ${attempt} BatchWriteItem calls; the table is throttling writes.`;
        this.#logger.warn('inbox write gave up', {
          table: this.#tableName,
          unprocessed: pending.length,
        });
        throw new RetriableError(message);
      }
      await this.#retry.sleep(this.#backoffMs(attempt));
    }
  }

  /**
   * "Full jitter": a random delay up to `base * 2^(attempt-1)`, capped. See the AWS Architecture
   * Blog, "Exponential Backoff And Jitter".
   */
  #backoffMs(attempt: number): number {
    const { baseDelayMs, maxDelayMs, random } = this.#retry;
    return Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
  }

  /** A failed write, as `#failure` reads it; a passing fault is logged with the table's name. */
  #writeFailure(error: unknown): unknown {
    const failure = this.#failure(error);
    if (failure !== error)
      this.#logger.warn('inbox write failed', { table: this.#tableName, error });
    return failure;
  }

  /**
   * One page of `userId`'s notifications, newest first. `nextCursor` is present only when older
   * notifications remain.
   *
   * @throws ValidationError on field `cursor` for a cursor this store did not issue for `userId`.
   * @throws RetriableError when the store does not answer.
   */
  async list(userId: number, options: ListOptions): Promise<InboxPage> {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a whole number of at least 1; received ${limit}`);
    }
    const start = options.cursor === undefined ? undefined : decodeCursor(options.cursor, userId);
    let output: QueryCommandOutput;
    let unreadCount: number;
    try {
      output = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          IndexName: INBOX_INDEX.timeline.name,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': INBOX_KEY.partition },
          ExpressionAttributeValues: { ':pk': userId },
          ScanIndexForward: false,
          // One more than asked tells whether another page exists, so that the last page never
          // carries a cursor to an empty one.
          Limit: limit + 1,
          ...(start ? { ExclusiveStartKey: { ...start } } : {}),
        }),
      );
      // After the page, not beside it: notifications are only ever added, so the count then
      // includes every unread one the page holds (two queries in parallel could miss one).
      unreadCount = await this.#unreadCount(userId);
    } catch (error) {
      throw this.#failure(error);
    }
    const items = output.Items ?? [];
    const page = items.slice(0, limit);
    const last = page.at(-1);
    // Past `limit` items, the next page starts after the last one returned. Otherwise the query
    // may have stopped at DynamoDB's 1 MB page size, and says where to go on.
    const after = items.length > limit && last ? last : output.LastEvaluatedKey;
    return {
      notifications: page.map(toNotification),
      unreadCount,
      ...(after ? { nextCursor: encodeCursor(positionOfItem(after)) } : {}),
    };
  }

  /**
   * How many of `userId`'s notifications are unread, up to `MAX_UNREAD_COUNT`: a strongly
   * consistent count of the sparse `unread` index, so that it includes a write just made. One
   * call: 1,000 keys-only entries are far below the 1 MB a query reads at once.
   */
  async #unreadCount(userId: number): Promise<number> {
    const output: QueryCommandOutput = await this.#client.send(
      new QueryCommand({
        TableName: this.#tableName,
        IndexName: INBOX_INDEX.unread.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': INBOX_KEY.partition },
        ExpressionAttributeValues: { ':pk': userId },
        Select: 'COUNT',
        ConsistentRead: true,
        Limit: READ_STATE_LIMITS.MAX_UNREAD_COUNT,
      }),
    );
    return output?.Count ?? 0;
  }

  /**
   * Marks `userId`'s notification `id` read (idempotent: an already read one stays read and
   * changes nothing).
   * @throws NotificationNotFoundError when `userId` has no notification `id` (another user's
   * included: it is not in this user's partition).
   * @throws RetriableError when the store does not answer.
   */
  async markRead(userId: number, id: string): Promise<MarkReadResult> {
    try {
      const changed = await this.#markKeyRead({ userId, id });
      if (changed === undefined) throw new NotificationNotFoundError(id);
      return { ids: changed ? [id] : [], unreadCount: await this.#unreadCount(userId) };
    } catch (error) {
      throw this.#failure(error);
    }
  }

  /**
   * Marks read every notification of `userId` that is unread, up to `MARK_ALL_MAX` of them (the
   * answer's `unreadCount` tells whether more are left).
   * @throws RetriableError when the store does not answer.
   */
  async markAllRead(userId: number): Promise<MarkReadResult> {
    try {
      const output = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          IndexName: INBOX_INDEX.unread.name,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': INBOX_KEY.partition },
          ExpressionAttributeValues: { ':pk': userId },
          ConsistentRead: true,
          Limit: READ_STATE_LIMITS.MARK_ALL_MAX,
        }),
      );
      const keys = (output.Items ?? []).map(keyOfItem);
      const ids: string[] = [];
      await forEachLimited(keys, READ_STATE_LIMITS.MARK_ALL_CONCURRENCY, async (key) => {
        if (await this.#markKeyRead(key)) ids.push(key.id);
      });
      return { ids, unreadCount: await this.#unreadCount(userId) };
    } catch (error) {
      throw this.#failure(error);
    }
  }

  /**
   * Takes the item at `key` out of the `unread` index, in one `UpdateItem` by key. Resolves with
   * `true` when it was unread, `false` when it was read already (it keeps its `readAt`), and
   * `undefined` when there is no such item.
   */
  async #markKeyRead(key: InboxKey): Promise<boolean | undefined> {
    try {
      const output = await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: { [INBOX_KEY.partition]: key.userId, [INBOX_KEY.sort]: key.id },
          UpdateExpression: 'REMOVE #unread SET #readAt = if_not_exists(#readAt, :now)',
          // Never creates an item: an id the user has no notification with is a 404.
          ConditionExpression: 'attribute_exists(#id)',
          ExpressionAttributeNames: {
            '#id': INBOX_KEY.sort,
            '#unread': INBOX_INDEX.unread.sort,
            '#readAt': 'readAt',
          },
          ExpressionAttributeValues: { ':now': new Date().toISOString() },
          // The old values of what changed: `unread` among them only if it was unread.
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      return output.Attributes?.[INBOX_INDEX.unread.sort] !== undefined;
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') {
        return undefined;
      }
      throw error;
    }
  }

  /**
   * The store's one reading of a failure, for reads and writes alike: a passing fault (throttling,
   * a 5xx, a timeout) is a `RetriableError` (a read is answered 503 with a retry delay, a write
   * fails the Kafka batch, which is delivered again); anything else, a bug of ours, passes as it is.
   */
  #failure(error: unknown): unknown {
    if (!isTransientAwsError(error)) return error;
    return new RetriableError('The notification store is unavailable. Try again shortly.', {
      retryAfterSeconds: INBOX_RETRY_AFTER_SECONDS,
      cause: error,
    });
  }
}
