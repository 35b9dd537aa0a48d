import type { Logger } from '@aws-lambda-powertools/logger';
import { type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoDbClient, type DynamoDbEndpoint } from '../aws/dynamodb-client.js';
import { isTransientAwsError } from '../aws/transient-error.js';
import { RateLimitedError } from '../errors.js';
import { IDEMPOTENCY_DEFAULTS } from '../idempotency/guard.js';
import { type SendLimiter, type SendRateSettings, windowOf } from './send-rate.js';

/**
 * The per-sender limit's counters in DynamoDB (./send-rate.ts says why and how). A module of its
 * own, loaded on the first request (`lazyLimiter`), so that the function's init does not load the
 * DynamoDB client.
 *
 * When the store fails (throttling, a timeout: its client's bounds are the Idempotency-Keys'
 * tight ones), the request is let through and the miss logged: sending does not depend on
 * DynamoDB, and API Gateway's throttling still bounds every caller together meanwhile. A failure
 * that is no passing one (no such table, no permission: a misconfiguration) is let through too,
 * and logged as an error.
 */

/** A DynamoDB client for the counters, with the Idempotency-Keys' tight bounds. */
export const createLimiterClient = (at: DynamoDbEndpoint): DynamoDBClient =>
  createDynamoDbClient(at, IDEMPOTENCY_DEFAULTS);

export class DynamoDBSendLimiter implements SendLimiter {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;
  readonly #settings: SendRateSettings;
  readonly #logger: Logger;

  constructor(
    client: DynamoDBClient,
    tableName: string,
    settings: SendRateSettings,
    logger: Logger,
  ) {
    this.#client = client;
    this.#tableName = tableName;
    this.#settings = settings;
    this.#logger = logger;
  }

  async take(senderId: number, count: number, now = new Date()): Promise<void> {
    const { limit, windowS } = this.#settings;
    if (limit === 0 || count === 0) return;
    const nowS = Math.floor(now.getTime() / 1000);
    const { id, endsAt } = windowOf(senderId, nowS, windowS);
    const refused = () =>
      new RateLimitedError(
        `Too many notifications: a sender may send ${limit} every ${windowS} s; this request has ${count}. Try again after the Retry-After seconds.`,
        Math.max(1, endsAt - nowS),
      );
    if (count > limit) throw refused();
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: { id: { S: id } },
          UpdateExpression:
            'ADD #count :n SET #expiration = if_not_exists(#expiration, :expiration)',
          ConditionExpression: 'attribute_not_exists(#count) OR #count <= :most',
          ExpressionAttributeNames: { '#count': 'count', '#expiration': 'expiration' },
          ExpressionAttributeValues: {
            ':n': { N: String(count) },
            ':most': { N: String(limit - count) },
            // Kept a window past its end: DynamoDB's TTL deletes it some time later.
            ':expiration': { N: String(endsAt + windowS) },
          },
        }),
      );
    } catch (error) {
      if ((error as Error)?.name === 'ConditionalCheckFailedException') throw refused();
      const log = isTransientAwsError(error) ? 'warn' : 'error';
      this.#logger[log]('send rate not checked: its store failed; let through', {
        senderId,
        count,
        error,
      });
    }
  }
}
