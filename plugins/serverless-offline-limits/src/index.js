// @ts-check
'use strict';

const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { installHttpAnswers, installWebSocketLimits } = require('./gateway');
const { InstanceCap } = require('./instances');
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
    const poolFile = join(dirname(entry), 'lambda', 'LambdaFunctionPool.js');
    const { default: LambdaFunctionPool } = await import(pathToFileURL(poolFile).href);
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
    const poolProto = LambdaFunctionPool.prototype;
    if (
      typeof proto.setEvent !== 'function' ||
      typeof proto.runHandler !== 'function' ||
      typeof proto.cleanup !== 'function' ||
      typeof poolProto.get !== 'function'
    ) {
      throw new Error(
        `${OPTIONS_KEY}: this serverless-offline has no LambdaFunction.setEvent/runHandler/cleanup or LambdaFunctionPool.get`,
      );
    }
    wrapped.add(proto);
    const limits = this.#limits();
    const cap = new InstanceCap(this.#instances());
    const log = this.#log;
    const { setEvent, runHandler, cleanup } = proto;
    const { get } = poolProto;
    poolProto.get = function (
      /** @type {string} */ functionKey,
      /** @type {unknown} */ definition,
    ) {
      return cap.pick(this, functionKey, () => get.call(this, functionKey, definition));
    };
    // Every caller runs setEvent and runHandler back to back; the event is handed to the
    // instance when its turn comes (it may still be running an earlier one).
    proto.setEvent = function (/** @type {unknown} */ event) {
      events.set(this, event);
    };
    proto.runHandler = function () {
      const event = events.get(this);
      return invokeAsAws({
        limits,
        name: this.functionName,
        event,
        run: () =>
          cap.turn(this, () => {
            setEvent.call(this, event);
            return runHandler.call(this);
          }),
        log,
      }).finally(() => cap.release(this));
    };
    proto.cleanup = function () {
      cap.forget(this);
      return cleanup.call(this);
    };
  }

  /** The most instances per function (`custom...instances`), none if unset. */
  #instances() {
    const options = this.#serverless.service.custom?.[OPTIONS_KEY] ?? {};
    return positiveOrUndefined(options.instances, `custom.${OPTIONS_KEY}.instances`);
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
