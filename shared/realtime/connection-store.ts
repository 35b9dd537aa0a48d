import type { Logger } from '@aws-lambda-powertools/logger';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { isTransientAwsError } from '../aws/transient-error.js';
import { RetriableError } from '../errors.js';
import { describeIssues } from '../models/index.js';
import {
  CONNECTION_ATTRIBUTE,
  CONNECTION_INDEX,
  CONNECTION_TTL_S,
  type Connection,
  ConnectionSchema,
} from './connections-table.js';

/** Where connections are kept; the use cases depend on this, tests pass a fake. */
export interface ConnectionRegistry {
  /** Records an open connection of `userId`, whose token expires at `tokenExpiresAt` (epoch s). */
  add(
    userId: number,
    connectionId: string,
    tokenExpiresAt: number,
    now?: Date,
  ): Promise<Connection>;
  /** A connection known by its id only (a message's route), `undefined` when unknown. */
  byId(connectionId: string): Promise<Connection | undefined>;
  /** Forgets a connection known by its id only (`$disconnect`); nothing when unknown. */
  removeById(connectionId: string): Promise<void>;
  /** Forgets one connection of `userId`; nothing when unknown. */
  remove(userId: number, connectionId: string): Promise<void>;
  /** The open connections of `userId` (expired ones left out), oldest first. */
  of(userId: number, now?: Date): Promise<Connection[]>;
}

/** Connections in DynamoDB (shared/realtime/connections-table.ts: the table and its index). */
export class ConnectionStore implements ConnectionRegistry {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #logger: Logger;

  constructor(client: DynamoDBDocumentClient, tableName: string, logger: Logger) {
    this.#client = client;
    this.#tableName = tableName;
    this.#logger = logger;
  }

  async add(
    userId: number,
    connectionId: string,
    tokenExpiresAt: number,
    now = new Date(),
  ): Promise<Connection> {
    const connection: Connection = {
      userId,
      connectionId,
      connectedAt: now.getTime(),
      expiresAt: Math.floor(now.getTime() / 1000) + CONNECTION_TTL_S,
      tokenExpiresAt,
    };
    await this.#call(() =>
      this.#client.send(new PutCommand({ TableName: this.#tableName, Item: { ...connection } })),
    );
    return connection;
  }

  async byId(connectionId: string): Promise<Connection | undefined> {
    const userId = (await this.#usersOf(connectionId))[0];
    if (userId === undefined) return undefined;
    const output = await this.#call(() =>
      this.#client.send(
        new GetCommand({
          TableName: this.#tableName,
          Key: {
            [CONNECTION_ATTRIBUTE.userId]: userId,
            [CONNECTION_ATTRIBUTE.connectionId]: connectionId,
          },
          ConsistentRead: true,
        }),
      ),
    );
    const parsed = ConnectionSchema.safeParse(output.Item);
    return parsed.success ? parsed.data : undefined;
  }

  async removeById(connectionId: string): Promise<void> {
    for (const userId of await this.#usersOf(connectionId)) {
      await this.remove(userId, connectionId);
    }
  }

  /** The users a connection id is recorded under (one, or none), from the `byConnection` index. */
  async #usersOf(connectionId: string): Promise<number[]> {
    const found = await this.#call(() =>
      this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          IndexName: CONNECTION_INDEX.byConnection,
          KeyConditionExpression: '#id = :id',
          ExpressionAttributeNames: { '#id': CONNECTION_ATTRIBUTE.connectionId },
          ExpressionAttributeValues: { ':id': connectionId },
        }),
      ),
    );
    return (found.Items ?? [])
      .map((item) => item[CONNECTION_ATTRIBUTE.userId])
      .filter((userId): userId is number => typeof userId === 'number');
  }

  async remove(userId: number, connectionId: string): Promise<void> {
    await this.#call(() =>
      this.#client.send(
        new DeleteCommand({
          TableName: this.#tableName,
          Key: {
            [CONNECTION_ATTRIBUTE.userId]: userId,
            [CONNECTION_ATTRIBUTE.connectionId]: connectionId,
          },
        }),
      ),
    );
  }

  async of(userId: number, now = new Date()): Promise<Connection[]> {
    const connections: Connection[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const output = await this.#call(() =>
        this.#client.send(
          new QueryCommand({
            TableName: this.#tableName,
            KeyConditionExpression: '#user = :user',
            // Time to live deletes expired items within days, not at once: skip them here.
            FilterExpression: '#expires > :now',
            ExpressionAttributeNames: {
              '#user': CONNECTION_ATTRIBUTE.userId,
              '#expires': CONNECTION_ATTRIBUTE.expiresAt,
            },
            ExpressionAttributeValues: {
              ':user': userId,
              ':now': Math.floor(now.getTime() / 1000),
            },
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      for (const item of output.Items ?? []) {
        const parsed = ConnectionSchema.safeParse(item);
        if (!parsed.success) {
          // Data, not types: an item that is not a connection is skipped, never posted to.
          this.#logger.warn('connection item skipped: not a connection', {
            issues: describeIssues(parsed.error.issues, { root: '(item)' }),
          });
          continue;
        }
        connections.push(parsed.data);
      }
      start = output.LastEvaluatedKey;
    } while (start);
    return connections.sort((a, b) => a.connectedAt - b.connectedAt);
  }

  async #call<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!isTransientAwsError(error)) throw error;
      throw new RetriableError('The connections store throttled or did not answer.', {
        cause: error,
      });
    }
  }
}
