// @ts-check
'use strict';

/**
 * How many Lambda instances (worker threads) serverless-offline keeps per function, and what an
 * invocation does when they are all busy.
 *
 * serverless-offline 14 starts a new instance, a cold start in a new worker thread with its own V8
 * isolate, whenever an invocation finds every instance of its function busy, and keeps each for
 * a minute of idleness. On AWS that is right: each instance has a CPU of its own. On a developer's
 * machine every instance shares the same few cores, so instances beyond the cores add no
 * throughput: each burst (a GC pause, a slow store) starts more of them, each cold start takes
 * 100 ms or more of CPU, and each instance runs code that its own isolate has not optimised yet,
 * which slows everything further. With a cap, an invocation that finds the function's instances
 * busy waits for the first one free, in order: one invocation per instance at a time, as on AWS.
 * The concurrency limit (limits.js) still counts waiting invocations, so throttling is unchanged.
 */

/**
 * @typedef {{ readonly status: string }} Instance a serverless-offline LambdaFunction
 */

class InstanceCap {
  /** @type {number | undefined} */
  #max;
  /** @type {WeakMap<object, Map<string, Set<Instance>>>} each pool's instances per function */
  #pools = new WeakMap();
  /** @type {WeakMap<Instance, number>} invocations handed to each instance, running or waiting */
  #claims = new WeakMap();
  /** @type {WeakMap<Instance, Promise<void>>} the end of each instance's last claimed invocation */
  #tails = new WeakMap();
  /** @type {WeakSet<Instance>} instances serverless-offline has cleaned up (terminated) */
  #gone = new WeakSet();

  /** @param {number | undefined} max instances per function; no cap if undefined */
  constructor(max) {
    this.#max = max;
  }

  /**
   * The instance the next invocation of `functionKey` goes to: serverless-offline's choice
   * (`create`) while the function has fewer than the cap or one of them is free; else the one
   * with the fewest invocations handed to it.
   * @template {Instance} T
   * @param {object} pool
   * @param {string} functionKey
   * @param {() => T} create serverless-offline's own `get`
   * @returns {T}
   */
  pick(pool, functionKey, create) {
    const byKey = this.#pools.get(pool) ?? new Map();
    this.#pools.set(pool, byKey);
    /** @type {Set<T>} */
    const instances = /** @type {Set<T>} */ (byKey.get(functionKey) ?? new Set());
    byKey.set(functionKey, instances);
    for (const i of instances) if (this.#gone.has(i)) instances.delete(i);
    /** @type {T | undefined} */
    let chosen;
    if (this.#max !== undefined && instances.size >= this.#max) {
      for (const i of instances) {
        if (chosen === undefined || this.claims(i) < this.claims(chosen)) chosen = i;
      }
    }
    if (chosen === undefined || this.claims(chosen) === 0) {
      // Below the cap, or one is free: serverless-offline's own choice (an idle one, else new).
      chosen = create();
      instances.add(chosen);
    }
    this.#claims.set(chosen, this.claims(chosen) + 1);
    return chosen;
  }

  /** @param {Instance} instance */
  claims(instance) {
    return this.#claims.get(instance) ?? 0;
  }

  /**
   * Runs `run` on `instance` once the invocations handed to it before have ended.
   * @template T
   * @param {Instance} instance
   * @param {() => Promise<T>} run
   * @returns {Promise<T>}
   */
  async turn(instance, run) {
    const before = this.#tails.get(instance);
    /** @type {() => void} */
    let done = () => undefined;
    const tail = new Promise((/** @type {(v: void) => void} */ resolve) => {
      done = resolve;
    });
    this.#tails.set(instance, tail);
    try {
      if (before) await before;
      return await run();
    } finally {
      if (this.#tails.get(instance) === tail) this.#tails.delete(instance);
      done();
    }
  }

  /**
   * The invocation `pick` handed to `instance` has ended (run, or refused before it ran).
   * @param {Instance} instance
   */
  release(instance) {
    const left = this.claims(instance) - 1;
    if (left > 0) this.#claims.set(instance, left);
    else this.#claims.delete(instance);
  }

  /** @param {Instance} instance serverless-offline terminated it */
  forget(instance) {
    this.#gone.add(instance);
  }
}

module.exports = { InstanceCap };
