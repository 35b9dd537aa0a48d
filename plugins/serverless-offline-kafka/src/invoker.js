// @ts-check
'use strict';

const { withTimeout } = require('./util');

/**
 * Invokes functions through serverless-offline's own Lambda pool (`serverless-offline/lambda`),
 * so that a function runs from the esbuild output with its environment and timeout, exactly as
 * an HTTP-triggered one does. Our pool is never `start()`ed (that would bind the invoke port a
 * second time) and never reloads handlers per call (that leaks worker threads).
 */
class Invoker {
  /** @type {any} */
  #lambda;
  /** @type {Set<Promise<unknown>>} */
  #inFlight = new Set();
  /** @type {Promise<void> | undefined} */
  #reloading;

  /**
   * @param {any} serverless
   * @param {Record<string, unknown>} offlineOptions serverless-offline's options (with `location`)
   * @param {readonly string[]} functionKeys
   */
  static async create(serverless, offlineOptions, functionKeys) {
    const { default: Lambda } = await import('serverless-offline/lambda');
    const lambda = new Lambda(serverless, { ...offlineOptions, reloadHandler: false });
    lambda.create(
      functionKeys.map((functionKey) => ({
        functionKey,
        functionDefinition: serverless.service.getFunction(functionKey),
      })),
    );
    return new Invoker(lambda);
  }

  /** @param {any} lambda */
  constructor(lambda) {
    this.#lambda = lambda;
  }

  /**
   * Resolves with the handler's result; rejects with its error (timeouts included).
   * @param {string} functionKey
   * @param {unknown} event
   */
  async invoke(functionKey, event) {
    while (this.#reloading) await this.#reloading;
    const fn = this.#lambda.get(functionKey);
    // get, setEvent and runHandler run back to back: runHandler marks the instance busy at once.
    fn.setEvent(event);
    const run = fn.runHandler();
    this.#inFlight.add(run);
    try {
      return await run;
    } finally {
      this.#inFlight.delete(run);
    }
  }

  /**
   * After an esbuild rebuild: waits for running invocations (bounded), then drops the pool's
   * workers so that the next invocation loads the new code.
   * @param {number} timeoutMs
   */
  async reload(timeoutMs) {
    if (this.#reloading) return this.#reloading;
    this.#reloading = (async () => {
      await withTimeout(Promise.allSettled([...this.#inFlight]), timeoutMs, undefined);
      await this.#lambda.cleanup();
    })().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async cleanup() {
    await this.#lambda.cleanup();
  }
}

module.exports = { Invoker };
