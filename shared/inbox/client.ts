import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config.js';
import { createDynamoDbClient } from '../dynamodb.js';
import { DYNAMODB_CLIENT_DEFAULTS } from './limits.js';

/**
 * The DynamoDB client under the inbox: how it is made, and which of its failures are passing.
 */

/**
 * A DynamoDB document client for `inbox`: AWS's endpoint in its region, or `endpoint` when set
 * (dynalite offline), signed with dummy credentials. Timeouts keep every call within seconds.
 */
export const createDocumentClient = (
  inbox: Pick<Config['inbox'], 'endpoint' | 'region'>,
): DynamoDBDocumentClient => {
  const client = createDynamoDbClient(inbox, DYNAMODB_CLIENT_DEFAULTS);
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
};

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
