import type { JSONValue } from '@aws-lambda-powertools/commons/types';
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyUnknownError,
  IdempotencyValidationError,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import type { Config } from '../config.js';
import {
  IdempotencyKeyInUseError,
  IdempotencyKeyReusedError,
  ServiceUnavailableError,
  ValidationError,
} from '../errors.js';

/**
 * `Idempotency-Key` on the POST routes (IETF draft `draft-ietf-httpapi-idempotency-key-header`,
 * as Stripe does it): the first request with a key runs and its answer is kept; a retry with the
 * same key and the same request gets that answer again and publishes nothing; the same key with
 * another request is refused (422); a retry while the first still runs is told to wait (409).
 * Powertools' Idempotency keeps the keys in DynamoDB (dynalite offline).
 */

export const IDEMPOTENCY_DEFAULTS = {
  /** How long a key is remembered: a day, as Stripe keeps them. */
  EXPIRES_AFTER_S: 24 * 60 * 60,
  /** Longest key accepted, in characters (Stripe's limit). */
  KEY_MAX_CHARS: 255,
  /** Seconds a client is told to wait when the first request with its key still runs. */
  IN_USE_RETRY_AFTER_S: 1,
  /** Seconds a client is told to wait when the store of keys did not answer. */
  UNAVAILABLE_RETRY_AFTER_S: 1,
  /** Tight bounds, so that a store that does not answer costs a request 3 s at most. */
  CONNECTION_TIMEOUT_MS: 500,
  REQUEST_TIMEOUT_MS: 1_000,
  MAX_ATTEMPTS: 2,
  LOCAL_REGION: 'us-east-1',
} as const;

/** The request header. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

/** What a key guards: `payload` is what must be the same for a retry to be one. */
export interface IdempotentCall {
  /** The key as scoped by `scopedKey`. */
  readonly key: string;
  /** Plain JSON data (it is hashed as JSON). */
  readonly payload: unknown;
}

export interface Outcome<T> {
  readonly value: T;
  /** Whether this is the kept answer of an earlier request with the same key. */
  readonly replayed: boolean;
}

/** Runs work once per key; the HTTP adapter depends on this, tests pass a fake. */
export interface IdempotencyGuard {
  /**
   * Runs `work` unless a request with `call.key` already ran; then resolves with its result.
   * @param remainingMs how long this invocation may still run: a key whose request was cut
   *   short by a timeout is free again after that (Powertools' in-progress expiry)
   * @throws IdempotencyKeyReusedError, IdempotencyKeyInUseError, ServiceUnavailableError
   */
  once<T>(call: IdempotentCall, work: () => Promise<T>, remainingMs?: number): Promise<Outcome<T>>;
}

/**
 * The key of a request, scoped to its caller: keys are the client's choice, so two callers may
 * pick the same one. `caller` is the authenticated user's id once requests carry one.
 */
export const scopedKey = (caller: string, key: string): string => `${caller}:${key}`;

/**
 * The header's value, checked: 1 to 255 visible ASCII characters, optionally quoted as the IETF
 * draft writes it (a structured-field string). `undefined` when the header is absent.
 */
export const parseIdempotencyKey = (value: string | undefined): string | undefined => {
  if (value === undefined) return undefined;
  const unquoted = /^"(.*)"$/.exec(value)?.[1] ?? value;
  if (!new RegExp(`^[\\x21-\\x7e]{1,${IDEMPOTENCY_DEFAULTS.KEY_MAX_CHARS}}$`).test(unquoted)) {
    throw ValidationError.field(
      IDEMPOTENCY_KEY_HEADER,
      `must be 1 to ${IDEMPOTENCY_DEFAULTS.KEY_MAX_CHARS} visible ASCII characters (a UUID, say); received ${unquoted.length} characters`,
    );
  }
  return unquoted;
};

/** A DynamoDB client for the keys' table, with AWS's endpoint or a local one. */
export const createIdempotencyClient = (
  store: Pick<Config['idempotency'], 'endpoint' | 'region'>,
): DynamoDBClient =>
  new DynamoDBClient({
    maxAttempts: IDEMPOTENCY_DEFAULTS.MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: IDEMPOTENCY_DEFAULTS.CONNECTION_TIMEOUT_MS,
      requestTimeout: IDEMPOTENCY_DEFAULTS.REQUEST_TIMEOUT_MS,
    },
    ...(store.endpoint
      ? {
          endpoint: store.endpoint,
          region: store.region ?? IDEMPOTENCY_DEFAULTS.LOCAL_REGION,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : store.region
        ? { region: store.region }
        : {}),
  });

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
    return new ServiceUnavailableError(
      worked
        ? 'The store of Idempotency-Keys did not answer after the request was processed: it may or may not have been published. Retry with the same Idempotency-Key.'
        : 'The store of Idempotency-Keys did not answer: nothing was published. Retry with the same Idempotency-Key.',
      IDEMPOTENCY_DEFAULTS.UNAVAILABLE_RETRY_AFTER_S,
      { cause: error },
    );
  }
  return error;
};
