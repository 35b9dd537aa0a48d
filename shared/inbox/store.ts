import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import type { Config } from '../config.js';
import {
  InvalidInboxItemError,
  ServiceUnavailableError,
  TransientError,
  ValidationError,
} from '../errors.js';
import {
  describeIssues,
  type Notification,
  NotificationSchema,
  UserIdSchema,
} from '../models/index.js';
import { INBOX_KEY, type InboxKey, inboxKeyOf, SORT_KEY_PATTERN } from './table.js';

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

/** Bounds of the retries of unprocessed writes. */
export const INBOX_WRITE_DEFAULTS = {
  /** Items in one `BatchWriteItem` call: DynamoDB's maximum. */
  BATCH_SIZE: 25,
  /** `BatchWriteItem` calls in flight at once. */
  CONCURRENCY: 4,
  /** Calls per chunk, the first included, before unprocessed items fail the save. */
  MAX_ATTEMPTS: 8,
  BASE_DELAY_MS: 50,
  MAX_DELAY_MS: 2_000,
} as const;

/** Seconds a client is told to wait when the store does not answer a read. */
export const INBOX_RETRY_AFTER_SECONDS = 1;

/** Timeouts and retries of the DynamoDB client, keeping a request within a few seconds. */
export const DYNAMODB_CLIENT_DEFAULTS = {
  CONNECTION_TIMEOUT_MS: 1_000,
  REQUEST_TIMEOUT_MS: 3_000,
  MAX_ATTEMPTS: 3,
  /** Region of a local endpoint when `AWS_REGION` is unset (the SDK needs one to sign). */
  LOCAL_REGION: 'us-east-1',
} as const;

/** Retries of unprocessed writes; `sleep` and `random` are there for tests. */
export interface RetryOptions {
  readonly maxAttempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1), as `Math.random` returns. */
  readonly random?: () => number;
}

/** Longest cursor accepted, in characters; real ones are about 110. */
const MAX_CURSOR_CHARS = 512;

const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Whether trying again later may succeed: throttling, a 5xx, a timeout or a network failure, as
 * left after the SDK's own retries. A validation error (a bug of ours) is not.
 */
export const isTransientStoreError = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  const e = error as Error & {
    code?: unknown;
    $fault?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  return (
    THROTTLING_ERRORS.has(e.name) ||
    e.name === 'TimeoutError' ||
    e.$fault === 'server' ||
    (e.$metadata?.httpStatusCode ?? 0) >= 500 ||
    (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code))
  );
};

const CursorSchema = z.strictObject({
  userId: UserIdSchema,
  sk: z.string().check(z.regex(SORT_KEY_PATTERN)),
});

/** The opaque cursor for a page that starts after `key`: base64url of its JSON. */
export const encodeCursor = (key: InboxKey): string =>
  Buffer.from(JSON.stringify({ userId: key.userId, sk: key.sk }), 'utf8').toString('base64url');

/**
 * The key a cursor starts after. Only a cursor this store issued for `userId`'s inbox is
 * accepted; anything else is a 400 on field `cursor`.
 */
export const decodeCursor = (cursor: string, userId: number): InboxKey => {
  const received = cursor.length > 40 ? `${cursor.slice(0, 37)}...` : cursor;
  const invalid = () =>
    ValidationError.field(
      'cursor',
      `expected the nextCursor of an earlier page, unchanged; received "${received}"`,
    );
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.toString('base64url') !== cursor) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = CursorSchema.safeParse(value);
  if (!parsed.success) throw invalid();
  if (parsed.data.userId !== userId) {
    throw ValidationError.field(
      'cursor',
      `was issued for another user's notifications; expected a nextCursor from user ${userId}'s`,
    );
  }
  return parsed.data;
};

const sleepFor = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

type WriteRequest = NonNullable<
  NonNullable<BatchWriteCommandOutput['UnprocessedItems']>[string]
>[number];

/**
 * The inbox in DynamoDB: idempotent batched writes for the consumer, paged reads for
 * `GET /notifications/{userId}`. One item per notification, keyed as `inboxKeyOf` says, holding
 * the notification's fields (`id`, `from`, `to`, `message`, `createdAt`) and its Kafka position.
 */
export class InboxStore implements InboxReader {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #logger: Logger;
  readonly #retry: Required<RetryOptions>;

  constructor(
    client: DynamoDBDocumentClient,
    tableName: string,
    logger: Logger,
    retry: RetryOptions = {},
  ) {
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
   * Writes every notification, overwriting any earlier copy of the same Kafka record, in
   * `BatchWriteItem` calls of up to 25 items. Unprocessed items are retried with exponential
   * backoff and full jitter. Resolves with the number of calls made.
   *
   * @throws TransientError when the store throttles, fails or does not answer, or items remain
   * unprocessed after the last attempt: the Kafka batch should be delivered again.
   */
  async save(items: readonly StoredNotification[]): Promise<{ calls: number }> {
    // A batch must not name one key twice; the same record delivered twice is one item.
    const unique = new Map<string, WriteRequest>();
    for (const item of items) {
      const key = inboxKeyOf(item);
      unique.set(`${key.userId}#${key.sk}`, { PutRequest: { Item: toItem(key, item) } });
    }
    const requests = [...unique.values()];
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += INBOX_WRITE_DEFAULTS.BATCH_SIZE) {
      chunks.push(requests.slice(i, i + INBOX_WRITE_DEFAULTS.BATCH_SIZE));
    }

    let calls = 0;
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      for (let chunk = chunks[next++]; chunk && !failed; chunk = chunks[next++]) {
        try {
          // Not `calls += await ...`: that reads `calls` before the other workers add theirs.
          const made = await this.#writeChunk(chunk);
          calls += made;
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    const workers = Math.min(INBOX_WRITE_DEFAULTS.CONCURRENCY, chunks.length);
    // Settle every call in flight before failing: nothing keeps writing after we return.
    const outcomes = await Promise.allSettled(Array.from({ length: workers }, worker));
    const failure = outcomes.find((o) => o.status === 'rejected');
    if (failure) throw failure.reason;
    return { calls };
  }

  /** Writes one chunk, retrying what DynamoDB leaves unprocessed; resolves with the calls made. */
  async #writeChunk(chunk: readonly WriteRequest[]): Promise<number> {
    let pending = [...chunk];
    for (let attempt = 1; ; attempt++) {
      let output: BatchWriteCommandOutput;
      try {
        output = await this.#client.send(
          new BatchWriteCommand({ RequestItems: { [this.#tableName]: pending } }),
        );
      } catch (error) {
        throw this.#writeFailure(error);
      }
      pending = output.UnprocessedItems?.[this.#tableName] ?? [];
      if (pending.length === 0) return attempt;
      if (attempt >= this.#retry.maxAttempts) {
        const message = `${pending.length} of ${chunk.length} notifications were still unprocessed after ${attempt} BatchWriteItem calls; the table is throttling writes.`;
        this.#logger.warn('inbox write gave up', {
          table: this.#tableName,
          unprocessed: pending.length,
        });
        throw new TransientError(message);
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

  #writeFailure(error: unknown): unknown {
    if (!isTransientStoreError(error)) return error;
    this.#logger.warn('inbox write failed', { table: this.#tableName, error });
    return new TransientError(
      'The inbox store throttled or did not answer the write; the batch must be delivered again.',
      { cause: error },
    );
  }

  /**
   * One page of `userId`'s notifications, newest first. `nextCursor` is present only when older
   * notifications remain.
   *
   * @throws ValidationError on field `cursor` for a cursor this store did not issue for `userId`.
   * @throws ServiceUnavailableError when the store does not answer.
   */
  async list(userId: number, options: ListOptions): Promise<InboxPage> {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`limit must be a whole number of at least 1; received ${limit}`);
    }
    const start = options.cursor === undefined ? undefined : decodeCursor(options.cursor, userId);
    let output: QueryCommandOutput;
    try {
      output = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
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
    } catch (error) {
      throw this.#readFailure(error);
    }
    const items = output.Items ?? [];
    const page = items.slice(0, limit);
    const last = page.at(-1);
    // Past `limit` items, the next page starts after the last one returned. Otherwise the query
    // may have stopped at DynamoDB's 1 MB page size, and says where to go on.
    const after = items.length > limit && last ? last : output.LastEvaluatedKey;
    return {
      notifications: page.map(toNotification),
      ...(after ? { nextCursor: encodeCursor(keyOfItem(after)) } : {}),
    };
  }

  #readFailure(error: unknown): unknown {
    if (!isTransientStoreError(error)) return error;
    return new ServiceUnavailableError(
      'The notification store is unavailable. Try again shortly.',
      INBOX_RETRY_AFTER_SECONDS,
      { cause: error },
    );
  }
}

const toItem = (key: InboxKey, { notification, partition, offset }: StoredNotification) => ({
  [INBOX_KEY.partition]: key.userId,
  [INBOX_KEY.sort]: key.sk,
  id: notification.id,
  from: { id: notification.from.id, name: notification.from.name },
  to: { id: notification.to.id, name: notification.to.name },
  message: notification.message,
  createdAt: notification.createdAt,
  partition,
  offset,
});

type Item = Readonly<Record<string, unknown>>;

const keyOfItem = (item: Item): InboxKey => {
  const parsed = CursorSchema.safeParse({
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

/** The notification an item holds, checked against the schema: items are data, not types. */
const toNotification = (item: Item): Notification => {
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
  return parsed.data;
};

/** An item's issues name `(item)` for the item itself. */
const ITEM = { root: '(item)' } as const;

/**
 * A DynamoDB document client for `inbox`: AWS's endpoint in its region, or `endpoint` when set
 * (dynalite offline), signed with dummy credentials. Timeouts keep every call within seconds.
 */
export const createDocumentClient = (
  inbox: Pick<Config['inbox'], 'endpoint' | 'region'>,
): DynamoDBDocumentClient => {
  const client = new DynamoDBClient({
    maxAttempts: DYNAMODB_CLIENT_DEFAULTS.MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: DYNAMODB_CLIENT_DEFAULTS.CONNECTION_TIMEOUT_MS,
      requestTimeout: DYNAMODB_CLIENT_DEFAULTS.REQUEST_TIMEOUT_MS,
    },
    ...(inbox.endpoint
      ? {
          endpoint: inbox.endpoint,
          region: inbox.region ?? DYNAMODB_CLIENT_DEFAULTS.LOCAL_REGION,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : inbox.region
        ? { region: inbox.region }
        : {}),
  });
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
};
