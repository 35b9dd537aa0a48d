/**
 * Runs `work` on every item, at most `concurrency` at once, in order of start. Every call in
 * flight settles before the first failure is thrown: nothing keeps running after it returns.
 */
export const forEachLimited = async <T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> => {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  const outcomes = await Promise.allSettled(
    Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, worker),
  );
  const failure = outcomes.find((o) => o.status === 'rejected');
  if (failure) throw failure.reason;
};
