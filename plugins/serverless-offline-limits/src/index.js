// @ts-check
'use strict';

const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { installHttpAnswers, installWebSocketLimits } = require('./gateway');
const { ConcurrencyLimits, invokeAsAws } = require('./limits');

/**
 * serverless-offline-limits: under `sls offline start`, requests are answered and bounded as AWS
 * answers and bounds them. src/limits.js: a function that is throttled beyond its concurrency
 * limit (HTTP and WebSocket APIs alike), fails or times out; serverless-offline 14 honours no
 * concurrency setting and starts a worker thread per waiting request or message, and answers a
 * failure or a timeout of an HTTP API function with 200 and the error's message, type and stack.
 * src/gateway.js: what API Gateway does before any function runs (host names, no route, CORS,
 * unsigned requests to the signed AWS APIs, WebSocket message limits).
 *
 * serverless-offline offers no hook for this, so the plugin wraps, in the module instances
 * serverless-offline itself loaded, the two methods of its `LambdaFunction` that every invocation
 * goes through (`setEvent`, `runHandler`), the `start` of its hapi servers and the
 * `handleUpgrade` of its ws server. Options: `custom.serverless-offline-limits`.
 */

const OPTIONS_KEY = 'serverless-offline-limits';

/** @type {WeakMap<object, unknown>} the event each LambdaFunction instance is about to run */
const events = new WeakMap();
/** @type {Set<unknown>} prototypes already wrapped (one serverless-offline per process) */
const wrapped = new Set();

class ServerlessOfflineLimits {
  /** @type {any} */
  #serverless;
  /** @type {Record<string, unknown>} */
  #cliOptions;
  /** @type {{ warning(message: string): void, error(message: string): void, notice?(message: string): void }} */
  #log;

  /**
   * @param {any} serverless
   * @param {Record<string, unknown>} cliOptions
   * @param {{ log: any }} [utils]
   */
  constructor(serverless, cliOptions, utils) {
    this.#serverless = serverless;
    this.#cliOptions = cliOptions ?? {};
    const log = utils?.log ?? console;
    this.#log = {
      warning: (m) => (log.warning ?? log.warn).call(log, `[offline-limits] ${m}`),
      error: (m) => log.error.call(log, `[offline-limits] ${m}`),
    };
    this.hooks = {
      'before:offline:start:init': () => this.#install(),
      'before:offline:start': () => this.#install(),
    };
  }

  /** The host serverless-offline listens on (`--host`, or its `custom` setting), if one is set. */
  #host() {
    const host =
      this.#cliOptions.host ?? this.#serverless.service.custom?.['serverless-offline']?.host;
    return typeof host === 'string' ? host : undefined;
  }

  /** Each function's limit: its `reservedConcurrency`, else `custom...concurrency`. */
  #limits() {
    const service = this.#serverless.service;
    const options = service.custom?.[OPTIONS_KEY] ?? {};
    const defaultLimit = positiveOrUndefined(
      options.concurrency,
      `custom.${OPTIONS_KEY}.concurrency`,
    );
    /** @type {Map<string, number>} */
    const limits = new Map();
    for (const key of service.getAllFunctions()) {
      const fn = service.getFunction(key);
      const reserved = positiveOrUndefined(
        fn.reservedConcurrency,
        `functions.${key}.reservedConcurrency`,
      );
      if (reserved !== undefined) limits.set(fn.name, reserved);
    }
    return new ConcurrencyLimits(limits, defaultLimit);
  }

  async #install() {
    // The serverless-offline the service loads (the plugin may live in another folder), and the
    // hapi and ws it loads.
    const serviceDir = this.#serverless.serviceDir ?? this.#serverless.config?.servicePath;
    const entry = require.resolve('serverless-offline', { paths: [serviceDir] });
    const file = join(dirname(entry), 'lambda', 'LambdaFunction.js');
    const { default: LambdaFunction } = await import(pathToFileURL(file).href);
    const proto = LambdaFunction.prototype;
    if (wrapped.has(proto)) return;
    const { Server } = require(require.resolve('@hapi/hapi', { paths: [dirname(entry)] }));
    const { WebSocketServer } = require(require.resolve('ws', { paths: [dirname(entry)] }));
    installHttpAnswers(
      { prototype: Object.getPrototypeOf(new Server()) },
      {
        cors: this.#serverless.service.provider?.httpApi?.cors,
        host: this.#host(),
      },
    );
    installWebSocketLimits(WebSocketServer, this.#log);
    if (typeof proto.setEvent !== 'function' || typeof proto.runHandler !== 'function') {
      throw new Error(
        `${OPTIONS_KEY}: this serverless-offline has no LambdaFunction.setEvent/runHandler`,
      );
    }
    wrapped.add(proto);
    const limits = this.#limits();
    const log = this.#log;
    const { setEvent, runHandler } = proto;
    proto.setEvent = function (/** @type {unknown} */ event) {
      events.set(this, event);
      return setEvent.call(this, event);
    };
    proto.runHandler = function () {
      return invokeAsAws({
        limits,
        name: this.functionName,
        event: events.get(this),
        run: () => runHandler.call(this),
        log,
      });
    };
  }
}

/**
 * @param {unknown} value
 * @param {string} where
 * @returns {number | undefined}
 */
const positiveOrUndefined = (value, where) => {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(
      `${OPTIONS_KEY}: ${where} must be a whole number of at least 1; received ${JSON.stringify(value)}`,
    );
  }
  return n;
};

module.exports = ServerlessOfflineLimits;
