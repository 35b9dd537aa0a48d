import type { Logger } from '@aws-lambda-powertools/logger';
import type { AppMetrics } from './metrics.js';

/** The part of Lambda's context every handler reads. */
export interface LambdaContext {
  readonly awsRequestId: string;
  /** Lambda's; absent in tests that build a context by hand. */
  getRemainingTimeInMillis?(): number;
}

/**
 * Time kept back from the function's timeout to answer in: a handler that still works when
 * Lambda times it out gives the client no answer of its own (API Gateway answers a bare 5xx).
 */
export const ANSWER_MARGIN_MS = 500;

/** How long the work of this invocation may still take, or `undefined` if Lambda did not say. */
export const timeLeftForWork = (context: LambdaContext): number | undefined => {
  const remaining = context.getRemainingTimeInMillis?.();
  return remaining === undefined ? undefined : Math.max(0, remaining - ANSWER_MARGIN_MS);
};

/** What the frame takes from a handler's dependencies. */
export interface Telemetry {
  readonly logger: Logger;
  /** Flushed when each invocation ends. */
  readonly metrics?: Pick<AppMetrics, 'flush'>;
}

/** Fields a request adds to its log lines. */
export type RequestFields = Parameters<Logger['appendKeys']>[0];

/**
 * What one invocation knows about its request. Every log line written while it runs carries
 * these fields: the request id from the start, and whatever the handler adds once it knows it
 * (the caller's user id, say). `end()` removes them, so that the next invocation of a warm
 * container starts clean.
 */
export class RequestContext {
  readonly requestId: string;
  readonly #logger: Logger;
  readonly #keys = new Set<string>();

  constructor(logger: Logger, requestId: string) {
    this.#logger = logger;
    this.requestId = requestId;
    this.add({ requestId });
  }

  /** Adds `fields` to every log line of this request, until it ends. */
  add(fields: RequestFields): void {
    this.#logger.appendKeys(fields);
    for (const key of Object.keys(fields)) this.#keys.add(key);
  }

  /** Removes what this request added to the logger. */
  end(): void {
    this.#logger.removeKeys([...this.#keys]);
    this.#keys.clear();
  }
}

/**
 * The frame of every handler: gives the invocation its `RequestContext` and ends it however the
 * invocation ends, as Powertools' `injectLambdaContext` does with `resetKeys`, then writes the
 * invocation's metrics, as its `logMetrics` does. The handler inside reads: parse, one domain
 * call, map.
 */
export const withRequestContext =
  <E, C extends LambdaContext, R>(
    telemetry: Telemetry,
    handler: (event: E, request: RequestContext, context: C) => Promise<R>,
  ) =>
  async (event: E, context: C): Promise<R> => {
    const request = new RequestContext(telemetry.logger, context.awsRequestId);
    try {
      return await handler(event, request, context);
    } finally {
      flushMetrics(telemetry);
      request.end();
    }
  };

/** Metrics are worth an answer less than the invocation's own outcome: a failure is logged. */
const flushMetrics = ({ metrics, logger }: Telemetry): void => {
  try {
    metrics?.flush();
  } catch (error) {
    logger.warn('could not write the metrics', { error });
  }
};

/**
 * Wraps a handler so that `release` runs after every call. Lambda keeps connections warm between
 * invocations; `sls invoke local` instead waits for the event loop to empty, which an open Kafka
 * connection never lets happen, so there the connections are closed after the call.
 */
export const releasingAfterEachCall =
  <A extends unknown[], R>(handler: (...args: A) => Promise<R>, release: () => Promise<void>) =>
  async (...args: A): Promise<R> => {
    try {
      return await handler(...args);
    } finally {
      await release();
    }
  };
