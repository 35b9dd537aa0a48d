/**
 * What one user may take of the real-time path, so that no user can slow down the pushes of
 * others (README, "Limits and abuse").
 */

/**
 * Sessions (open WebSocket connections) one user may hold at once: two tabs, a phone, a little
 * more. Opening one more closes the oldest, which is told why first (`closing`, reason
 * `session_limit`). Every session of a user is posted every one of its notifications, so this
 * bounds what one notification costs to push.
 */
export const SESSION_LIMITS = { PER_USER: 5 } as const;

/** Bounds of pushing one batch of records. */
export const PUSH_LIMITS = {
  /**
   * Notifications carried to one recipient per batch: one message per session and batch holds
   * the newest this many, and says how many older ones it skipped (the client reads its inbox
   * for them). So a user who sends themself hundreds at once costs the batch (and the partition
   * behind it) one post per session, whatever the count.
   */
  NOTIFICATIONS_PER_RECIPIENT: 10,
  /** Recipients of a batch pushed to at once. */
  RECIPIENT_CONCURRENCY: 16,
  /**
   * Longest one post (or close) may take, its retry included: a connection that is slower is
   * dropped for the rest of the batch, which never waits on it longer than this.
   */
  POST_DEADLINE_MS: 1_000,
} as const;
