/** Which failures of an AWS SDK call are passing, whatever the service. */

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
export const isTransientAwsError = (error: unknown): boolean => {
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
