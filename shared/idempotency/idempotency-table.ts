import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { tableInput } from '../aws/table-input.js';

/**
 * The idempotency table of Powertools' DynamoDB persistence layer: one item per Idempotency-Key
 * (hashed), keyed `id`, expiring at `expiration` (epoch seconds; DynamoDB's TTL deletes it some
 * time after, Powertools ignores it once past). Shared by `CreateTable` offline and the
 * CloudFormation resource `IdempotencyTable` (a unit test holds the two equal).
 */
export const IDEMPOTENCY_TABLE = {
  AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
  KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
  BillingMode: 'PAY_PER_REQUEST',
} as const;

/** The `CreateTable` input for an idempotency table named `tableName`. */
export const idempotencyTableInput = (tableName: string): CreateTableCommandInput =>
  tableInput(tableName, IDEMPOTENCY_TABLE);
