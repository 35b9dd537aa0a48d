import { ValidationError } from '../errors.js';

/**
 * `Idempotency-Key` on the POST routes (IETF draft `draft-ietf-httpapi-idempotency-key-header`,
 * as Stripe does it): the first request with a key runs and its answer is kept; a retry with the
 * same key and the same request gets that answer again and publishes nothing; the same key with
 * another request is refused (422); a retry while the first still runs is told to wait (409).
 * Powertools' Idempotency keeps the keys in DynamoDB (dynalite offline): `./dynamodb-guard.ts`, loaded
 * by `lazyGuard` on the first request that carries a key.
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
  /**
   * A late answer is waited for (the SDK only logs it): the guard's first write is a conditional
   * put, and sent again after the store had applied it, it would be refused as in use, a 409 for
   * the client's first request (seen in a rolling-restart fault run with dynalite starved). The
   * connection timeout and the invocation's own timeout still bound it.
   */
  THROW_ON_REQUEST_TIMEOUT: false,
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
   * @throws IdempotencyKeyReusedError, IdempotencyKeyInUseError, RetriableError
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

/**
 * A guard made on the first request with a key, and the same one afterwards. Most requests carry
 * no Idempotency-Key: loading Powertools' Idempotency and a DynamoDB client at module init made
 * every cold start pay for them (the producer's init loaded the whole DynamoDB client for it).
 * A load that fails is tried again on the next request.
 */
export const lazyGuard = (load: () => Promise<IdempotencyGuard>): IdempotencyGuard => {
  let loading: Promise<IdempotencyGuard> | undefined;
  return {
    once: async (call, work, remainingMs) => {
      loading ??= load().catch((error: unknown) => {
        loading = undefined;
        throw error;
      });
      return (await loading).once(call, work, remainingMs);
    },
  };
};
