import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type AwsClientBounds, awsClientOptions } from './client-options.js';

/** Where the tables live: AWS's endpoint in `region`, or a local one (dynalite offline). */
export interface DynamoDbEndpoint {
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
}

/** Timeouts and retries of the document client, keeping a request within a few seconds. */
export const DOCUMENT_CLIENT_DEFAULTS = {
  CONNECTION_TIMEOUT_MS: 1_000,
  REQUEST_TIMEOUT_MS: 3_000,
  MAX_ATTEMPTS: 3,
  /** Region of a local endpoint when `AWS_REGION` is unset (the SDK needs one to sign). */
  LOCAL_REGION: 'us-east-1',
} as const;

/**
 * A DynamoDB client: AWS's endpoint in its region, or `endpoint` when set (dynalite offline),
 * signed with dummy credentials.
 */
export const createDynamoDbClient = (at: DynamoDbEndpoint, bounds: AwsClientBounds) =>
  new DynamoDBClient({
    ...(at.endpoint ? { endpoint: at.endpoint } : {}),
    ...awsClientOptions(bounds, { region: at.region, local: Boolean(at.endpoint) }),
  });

/**
 * The DynamoDB document client of a function's tables (the inbox, the connections), within
 * `DOCUMENT_CLIENT_DEFAULTS`: one per function, whichever tables it uses.
 */
export const createDocumentClient = (at: DynamoDbEndpoint): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(createDynamoDbClient(at, DOCUMENT_CLIENT_DEFAULTS), {
    marshallOptions: { removeUndefinedValues: true },
  });
