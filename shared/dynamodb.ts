import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** Where a table lives: AWS's endpoint in `region`, or a local one (dynalite offline). */
export interface DynamoDbEndpoint {
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
}

/** The bounds a caller puts on every call, so that a store that does not answer costs seconds. */
export interface DynamoDbBounds {
  readonly CONNECTION_TIMEOUT_MS: number;
  readonly REQUEST_TIMEOUT_MS: number;
  readonly MAX_ATTEMPTS: number;
  /** Region of a local endpoint when `AWS_REGION` is unset (the SDK needs one to sign). */
  readonly LOCAL_REGION: string;
}

/**
 * A DynamoDB client: AWS's endpoint in its region, or `endpoint` when set (dynalite offline),
 * signed with dummy credentials.
 */
export const createDynamoDbClient = (at: DynamoDbEndpoint, bounds: DynamoDbBounds) =>
  new DynamoDBClient({
    maxAttempts: bounds.MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: bounds.CONNECTION_TIMEOUT_MS,
      requestTimeout: bounds.REQUEST_TIMEOUT_MS,
    },
    ...(at.endpoint
      ? {
          endpoint: at.endpoint,
          region: at.region ?? bounds.LOCAL_REGION,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : at.region
        ? { region: at.region }
        : {}),
  });
