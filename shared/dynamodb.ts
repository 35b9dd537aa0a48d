import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type AwsClientBounds, awsClientOptions } from './aws-client.js';

/** Where a table lives: AWS's endpoint in `region`, or a local one (dynalite offline). */
export interface DynamoDbEndpoint {
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
}

/**
 * A DynamoDB client: AWS's endpoint in its region, or `endpoint` when set (dynalite offline),
 * signed with dummy credentials.
 */
export const createDynamoDbClient = (at: DynamoDbEndpoint, bounds: AwsClientBounds) =>
  new DynamoDBClient({
    ...(at.endpoint ? { endpoint: at.endpoint } : {}),
    ...awsClientOptions(bounds, { region: at.region, local: Boolean(at.endpoint) }),
  });
