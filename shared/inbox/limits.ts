/** Bounds of the inbox's writes and reads (the client's own: shared/aws/dynamodb-client.ts). */

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

/** Longest cursor accepted, in characters; real ones are about 160. */
export const MAX_CURSOR_CHARS = 512;

/** Bounds of the read state. */
export const READ_STATE_LIMITS = {
  /**
   * Unread notifications counted, at most: a count reads every unread key, so it is bounded; a
   * user with more is told this many ("1,000 or more").
   */
  MAX_UNREAD_COUNT: 1_000,
  /** Notifications one "mark all read" call marks, at most; the answer says how many are left. */
  MARK_ALL_MAX: 500,
  /** `UpdateItem` calls in flight at once while marking all read. */
  MARK_ALL_CONCURRENCY: 8,
  /** Keys in one `BatchGetItem` call: DynamoDB's maximum. */
  BATCH_GET_SIZE: 100,
} as const;
