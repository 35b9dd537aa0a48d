import type { JSONValue } from '@aws-lambda-powertools/commons/types';
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyUnknownError,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { createDynamoDbClient, type DynamoDbEndpoint } from '../aws/dynamodb-client.js';
import { IdempotencyKeyInUseError, IdempotencyKeyReusedError, RetriableError } from '../errors.js';
import {
  IDEMPOTENCY_DEFAULTS,
  type IdempotencyGuard,
  type IdempotentCall,
  type Outcome,
} from './guard.js';

/**
 * The `IdempotencyGuard` on Powertools' Idempotency with its DynamoDB persistence layer. A module
 * of its own so that a function loads it (and the DynamoDB client) only when a request carries
 * an Idempotency-Key (`lazyGuard`).
 */

/** A DynamoDB client for the keys' table, with AWS's endpoint or a local one. */
export const createIdempotencyClient = (at: DynamoDbEndpoint): DynamoDBClient =>
  createDynamoDbClient(at, IDEMPOTENCY_DEFAULTS);

export interface DynamoDBIdempotencyOptions {
  readonly tableName: string;
  readonly client: DynamoDBClient;
  /** Names the keys in the table, so that two routes or functions never share one. */
  readonly keyPrefix: string;
  readonly expiresAfterSeconds?: number;
}

/** What the guarded function returns, and so what the table keeps. */
interface Kept {
  readonly replayed: boolean;
  readonly value: JSONValue;
}

/** `IdempotencyGuard` on Powertools' Idempotency with its DynamoDB persistence layer. */
export class DynamoDBIdempotency implements IdempotencyGuard {
  readonly #config: IdempotencyConfig;
  readonly #run: (call: IdempotentCall, work: () => Promise<JSONValue>) => Promise<Kept>;

  constructor(options: DynamoDBIdempotencyOptions) {
    this.#config = new IdempotencyConfig({
      eventKeyJmesPath: 'key',
      payloadValidationJmesPath: 'payload',
      throwOnNoIdempotencyKey: true,
      expiresAfterSeconds: options.expiresAfterSeconds ?? IDEMPOTENCY_DEFAULTS.EXPIRES_AFTER_S,
      // A kept answer comes back marked, so that the client can be told it is a replay.
      responseHook: (response) => ({ ...(response as object), replayed: true }),
    });
    this.#run = makeIdempotent(
      async (_call: IdempotentCall, work: () => Promise<JSONValue>): Promise<Kept> => ({
        replayed: false,
        value: await work(),
      }),
      {
        persistenceStore: new DynamoDBPersistenceLayer({
          tableName: options.tableName,
          awsSdkV3Client: options.client,
        }),
        config: this.#config,
        keyPrefix: options.keyPrefix,
        dataIndexArgument: 0,
      },
    );
  }

  /** `work` must resolve with plain JSON data: it is what the table keeps. */
  async once<T>(
    call: IdempotentCall,
    work: () => Promise<T>,
    remainingMs?: number,
  ): Promise<Outcome<T>> {
    if (remainingMs !== undefined) {
      this.#config.registerLambdaContext({
        getRemainingTimeInMillis: () => remainingMs,
      } as Context);
    }
    let worked = false;
    try {
      const kept = await this.#run(call, () => {
        worked = true;
        return work() as Promise<JSONValue>;
      });
      return { value: kept.value as T, replayed: kept.replayed };
    } catch (error) {
      throw translate(error, worked);
    }
  }
}

/** Powertools' errors as the client should see them; the work's own errors pass unchanged. */
const translate = (error: unknown, worked: boolean): unknown => {
  if (error instanceof IdempotencyValidationError) {
    return new IdempotencyKeyReusedError({ cause: error });
  }
  if (error instanceof IdempotencyAlreadyInProgressError) {
    return new IdempotencyKeyInUseError(IDEMPOTENCY_DEFAULTS.IN_USE_RETRY_AFTER_S, {
      cause: error,
    });
  }
  if (error instanceof IdempotencyUnknownError) {
    return new RetriableError(
      worked
        ? 'The store of Idempotency-Keys did not answer after the request was processed: it may or may not have been published. Retry with the same Idempotency-Key.'
        : 'The store of Idempotency-Keys did not answer: nothing was published. Retry with the same Idempotency-Key.',
      { retryAfterSeconds: IDEMPOTENCY_DEFAULTS.UNAVAILABLE_RETRY_AFTER_S, cause: error },
    );
  }
  return error;
};
