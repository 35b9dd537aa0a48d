import type { Logger } from '@aws-lambda-powertools/logger';
import {
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { ServiceUnavailableError, TransientError } from '../errors.js';
import { isTransientStoreError } from './client.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { INBOX_RETRY_AFTER_SECONDS, INBOX_WRITE_DEFAULTS } from './limits.js';
import { INBOX_KEY, inboxKeyOf, keyOfItem, toItem, toNotification } from './table.js';
import type {
  InboxPage,
  InboxReader,
  InboxWriter,
  ListOptions,
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

/**
 * The inbox in DynamoDB: idempotent batched writes for the consumer, paged reads for
 * `GET /notifications/{userId}`. One item per notification, keyed as `inboxKeyOf` says, holding
 * the notification's fields (`id`, `from`, `to`, `message`, `createdAt`) and its Kafka position.
 */
export class InboxStore implements InboxReader, InboxWriter {
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
