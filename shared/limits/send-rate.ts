/**
 * The per-sender limit: at most `limit` notifications per sender in each window of `windowS`
 * seconds, counted in DynamoDB so that every instance of the function (on AWS, as many as there
 * are concurrent requests) counts against the same number. API Gateway's throttling, the other
 * half of the limits, is per route for all callers together: it keeps the whole API within what
 * its functions and Kafka can take, but it cannot tell one sender from another, so one user could
 * take all of it. This limit is what stops one user from filling inboxes (and DynamoDB's 10 GB
 * per inbox) or the topic for the others.
 *
 * A fixed window, one conditional `UpdateItem` per request: the count of the current window is
 * raised by the request's notifications unless that would pass the limit (then nothing is counted,
 * and the request is refused until the window ends). Across a window's edge a sender may send up
 * to twice the limit in a short time; over any two windows, never more than twice the limit.
 *
 * The counters live in the Idempotency-Keys' table (keys `send-rate#<sender>#<window start>`,
 * which no Powertools key can be), expired by the same time to live
 * (./dynamodb-send-limiter.ts, loaded on the first request).
 */

/** The limit, as configured (`SEND_RATE_LIMIT`, `SEND_RATE_WINDOW_S`). */
export interface SendRateSettings {
  /** Notifications per sender per window; 0 turns the limit off. */
  readonly limit: number;
  readonly windowS: number;
}

export interface SendLimiter {
  /**
   * Counts `count` notifications of `senderId`.
   * @throws RateLimitedError (429) when they would pass the limit; RetriableError (503) when the
   * counter's store does not answer
   */
  take(senderId: number, count: number, now?: Date): Promise<void>;
}

/** The `id` of a sender's counter in the window that holds `nowS`, and when that window ends. */
export const windowOf = (
  senderId: number,
  nowS: number,
  windowS: number,
): { id: string; endsAt: number } => {
  const start = nowS - (nowS % windowS);
  return { id: `send-rate#${senderId}#${start}`, endsAt: start + windowS };
};

/**
 * A limiter made on the first request and the same one afterwards, so that the function's init
 * does not load the DynamoDB client (shared/idempotency/guard.ts does the same). A load that fails
 * is tried again on the next request.
 */
export const lazyLimiter = (load: () => Promise<SendLimiter>): SendLimiter => {
  let loading: Promise<SendLimiter> | undefined;
  return {
    take: async (senderId, count, now) => {
      loading ??= load().catch((error: unknown) => {
        loading = undefined;
        throw error;
      });
      return (await loading).take(senderId, count, now);
    },
  };
};
