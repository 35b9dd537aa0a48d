// @ts-check
'use strict';

/**
 * What AWS's HTTP API does when it cannot get an answer from a function, and a concurrency cap
 * per function: the parts of serverless-offline-limits that know nothing of serverless-offline.
 *
 * AWS (Lambda developer guide, `services-apigateway-errors`; API Gateway developer guide,
 * `http-api-troubleshooting-lambda`): API Gateway treats every invocation error and function
 * error as an internal error. Lambda refuses an invocation beyond the function's reserved
 * concurrency at once (429 TooManyRequestsException, nothing queued), and an HTTP API answers
 * that, a function that throws and a function that times out alike: 500 with the body
 * `{"message":"Internal Server Error"}`, never the error itself. A WebSocket API's invocations
 * are capped alike; one that is throttled fails, and API Gateway tells the client of a message
 * `{"message":"Internal server error",...}` (serverless-offline does the same for a failed one).
 */

/** The body an HTTP API answers when the function gave no answer of its own. */
const INTERNAL_SERVER_ERROR = '{"message":"Internal Server Error"}';

/** The proxy result serverless-offline turns into that answer. */
const internalServerError = () => ({
  statusCode: 500,
  headers: { 'content-type': 'application/json' },
  isBase64Encoded: false,
  body: INTERNAL_SERVER_ERROR,
});

/**
 * Whether `event` is an HTTP API (payload 2.0) request: only those are answered as an HTTP API
 * does; events of other sources (Kafka, schedules) pass through untouched.
 * @param {unknown} event
 */
const isHttpApiEvent = (event) => {
  const e = /** @type {{ version?: unknown, requestContext?: { http?: unknown } } | null} */ (
    event
  );
  return typeof e === 'object' && e !== null && e.version === '2.0' && !!e.requestContext?.http;
};

/**
 * Whether `event` is one of a WebSocket API's (`$connect`, a message, `$disconnect`).
 * @param {unknown} event
 */
const isWebSocketEvent = (event) => {
  const e =
    /** @type {{ requestContext?: { connectionId?: unknown, eventType?: unknown } } | null} */ (
      event
    );
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.requestContext?.connectionId === 'string' &&
    typeof e.requestContext?.eventType === 'string'
  );
};

/** Lambda's refusal of an invocation beyond the function's concurrency. */
class TooManyRequestsError extends Error {
  /** @override */
  name = 'TooManyRequestsException';

  /** @param {string} functionName */
  constructor(functionName) {
    super(`Rate Exceeded: ${functionName} is at its concurrency limit`);
  }
}

/**
 * Counts the invocations running per function and refuses those beyond its limit.
 */
class ConcurrencyLimits {
  /** @type {Map<string, number>} */
  #limits;
  /** @type {number | undefined} */
  #defaultLimit;
  /** @type {Map<string, number>} */
  #running = new Map();

  /**
   * @param {Map<string, number>} limits the function name's limit (its `reservedConcurrency`)
   * @param {number | undefined} defaultLimit for functions without one; none if undefined
   */
  constructor(limits, defaultLimit) {
    this.#limits = limits;
    this.#defaultLimit = defaultLimit;
  }

  /** @param {string} name */
  limitOf(name) {
    return this.#limits.get(name) ?? this.#defaultLimit;
  }

  /** @param {string} name */
  running(name) {
    return this.#running.get(name) ?? 0;
  }

  /**
   * Takes a slot for one invocation of `name`; `undefined` when it is at its limit (throttled).
   * @param {string} name
   * @returns {(() => void) | undefined} releases the slot
   */
  acquire(name) {
    const limit = this.limitOf(name);
    const running = this.running(name);
    if (limit !== undefined && running >= limit) return undefined;
    this.#running.set(name, running + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running.set(name, this.running(name) - 1);
    };
  }
}

/**
 * Runs one invocation as API Gateway would see it: refused at once beyond the limit; for an HTTP
 * API, a failure or a timeout answered with the bare 500; for a WebSocket API, a throttled
 * invocation fails (serverless-offline then answers as API Gateway does). Events of other sources
 * run as they are.
 * @template T
 * @param {{
 *   limits: ConcurrencyLimits,
 *   name: string,
 *   event: unknown,
 *   run: () => Promise<T>,
 *   log: { warning(message: string): void, error(message: string): void },
 * }} invocation
 * @returns {Promise<T | ReturnType<typeof internalServerError>>}
 */
const invokeAsAws = async ({ limits, name, event, run, log }) => {
  if (isWebSocketEvent(event)) {
    const release = limits.acquire(name);
    if (!release) {
      log.warning(
        `${name} throttled: ${limits.running(name)} invocations running, its concurrency limit (WebSocket event refused)`,
      );
      throw new TooManyRequestsError(name);
    }
    try {
      return await run();
    } finally {
      release();
    }
  }
  if (!isHttpApiEvent(event)) return run();
  const release = limits.acquire(name);
  if (!release) {
    log.warning(
      `${name} throttled: ${limits.running(name)} invocations running, its concurrency limit (answered 500 as an HTTP API does)`,
    );
    return internalServerError();
  }
  try {
    return await run();
  } catch (error) {
    // What Lambda would log; the client sees none of it.
    log.error(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    return internalServerError();
  } finally {
    release();
  }
};

module.exports = {
  ConcurrencyLimits,
  INTERNAL_SERVER_ERROR,
  TooManyRequestsError,
  internalServerError,
  invokeAsAws,
  isHttpApiEvent,
  isWebSocketEvent,
};
