import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import * as z from 'zod/mini';
import { tableInput } from '../aws/table-input.js';
import { UserIdSchema } from '../models/index.js';

/**
 * The table of open WebSocket connections: one item per connection, under its user, so that one
 * user may have several (two tabs, a phone) and the pusher finds them all with one strongly
 * consistent query. `$disconnect` knows only the connection id: the `byConnection` global index
 * finds its user. That index may lag a moment behind; a connection it misses is removed anyway by
 * the pusher (410) or by its time to live.
 */

/** Attribute names. */
export const CONNECTION_ATTRIBUTE = {
  userId: 'userId',
  connectionId: 'connectionId',
  connectedAt: 'connectedAt',
  /** Epoch seconds after which DynamoDB's time to live may delete the item. */
  expiresAt: 'expiresAt',
  /** Epoch seconds: the `exp` of the token the session was opened with. */
  tokenExpiresAt: 'tokenExpiresAt',
} as const;

export const CONNECTION_INDEX = { byConnection: 'byConnection' } as const;

/**
 * How long a connection item lives: API Gateway closes every WebSocket connection after 2 hours
 * (API Gateway developer guide, `apigateway-execution-service-websocket-limits-table`), and a
 * margin for a `$disconnect` that never ran.
 */
export const CONNECTION_TTL_S = 2 * 60 * 60 + 10 * 60;

/**
 * Key schema, index and billing, shared by `CreateTable` offline and the CloudFormation resource
 * `ConnectionsTable` (a unit test holds the two equal).
 */
export const CONNECTIONS_TABLE = {
  AttributeDefinitions: [
    { AttributeName: CONNECTION_ATTRIBUTE.userId, AttributeType: 'N' },
    { AttributeName: CONNECTION_ATTRIBUTE.connectionId, AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: CONNECTION_ATTRIBUTE.userId, KeyType: 'HASH' },
    { AttributeName: CONNECTION_ATTRIBUTE.connectionId, KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: [
    {
      IndexName: CONNECTION_INDEX.byConnection,
      KeySchema: [{ AttributeName: CONNECTION_ATTRIBUTE.connectionId, KeyType: 'HASH' }],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST',
  TimeToLiveAttribute: CONNECTION_ATTRIBUTE.expiresAt,
} as const;

/** The `CreateTable` input for a connections table named `tableName` (no TTL: a separate call). */
export const connectionsTableInput = (tableName: string): CreateTableCommandInput =>
  tableInput(tableName, CONNECTIONS_TABLE);

/**
 * A connection id as API Gateway makes them (`L0SM9cOFvHcCIhw=`) or serverless-offline does (a
 * UUID): checked before it is used in a key or a URL path.
 */
export const ConnectionIdSchema = z
  .string()
  .check(z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9=_+-]+$/));

/** One open connection of one user. */
export const ConnectionSchema = z.object({
  userId: UserIdSchema,
  connectionId: ConnectionIdSchema,
  /** Epoch milliseconds. */
  connectedAt: z.int().check(z.nonnegative()),
  /** Epoch seconds. */
  expiresAt: z.int().check(z.nonnegative()),
  /**
   * Epoch seconds: when the session's token expires. Nothing is pushed to the session after it;
   * an item written before it was recorded has none, and counts as expired.
   */
  tokenExpiresAt: z.optional(z.int().check(z.nonnegative())),
});
export type Connection = z.infer<typeof ConnectionSchema>;
