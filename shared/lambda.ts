/**
 * Wraps a handler so that `release` runs after every call. Lambda keeps connections warm between
 * invocations; `sls invoke local` instead waits for the event loop to empty, which an open Kafka
 * connection never lets happen, so there the connections are closed after the call.
 */
export const releasingAfterEachCall =
  <A extends unknown[], R>(handler: (...args: A) => Promise<R>, release: () => Promise<void>) =>
  async (...args: A): Promise<R> => {
    try {
      return await handler(...args);
    } finally {
      await release();
    }
  };
