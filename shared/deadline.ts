import { DeadlineExceededError } from './errors.js';

/**
 * Settles like `work`, or rejects with `DeadlineExceededError` after `timeoutMs`. The work itself
 * is not cancelled: the caller decides what to do with what may still be running.
 */
export const withDeadline = <T>(work: Promise<T>, timeoutMs: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceededError(timeoutMs)), timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
};
