// @ts-check
'use strict';

const { describe } = require('./util');

/**
 * Commits one owned partition's offsets in order. Offsets come only after what precedes them was
 * processed; one commit is in flight at a time, and offsets that arrive meanwhile are folded into
 * the next, so a partition never queues commits faster than the broker answers them (a group
 * commit takes several milliseconds). Never commits below an offset already asked for, nor after
 * the partition is revoked. A commit that fails is tried again (after `COMMIT_RETRY_DELAYS_MS`,
 * the last one repeated) until it is accepted, a later offset replaces it or the partition is
 * revoked: dropped, the last commit before a quiet spell left the group's lag above 0 until the
 * next record, and its records were delivered again at the next rebalance. A failure whose error
 * says `retriable: false` (the source is stopping) is only logged: the records after the last
 * commit are delivered again, as at least once allows.
 *
 * @typedef {import('./util').Log} Log
 * @typedef {{
 *   mapping: { functionKey: string, topic: string },
 *   commit: (partition: number, offset: bigint) => Promise<void>,
 *   log: Log,
 * }} CommitterHost
 */
/** Pauses before a failed commit is tried again; the last one repeats. */
const COMMIT_RETRY_DELAYS_MS = [500, 1_000, 2_000, 5_000];

class Committer {
  /** The highest offset asked to be committed. */
  #requested = -1n;
  /** @type {bigint | undefined} The offset to send once the commit in flight ends. */
  #next;
  #sending = false;
  /** @type {Promise<void>} */
  #sent = Promise.resolve();
  #committed = -1n;
  #revoked = false;
  /** Failed commits in a row. */
  #failures = 0;
  /** @type {CommitterHost} */
  #host;

  /**
   * @param {number} partition
   * @param {CommitterHost} host
   */
  constructor(partition, host) {
    this.partition = partition;
    this.#host = host;
  }

  /** The last offset the broker accepted (-1 before any). */
  get committed() {
    return this.#committed;
  }

  /** Settles once every commit asked for has been answered. */
  get settled() {
    return this.#sent;
  }

  /**
   * Commits `offset`, the next offset to read, after the commits asked for before.
   * @param {bigint} offset
   */
  commit(offset) {
    if (this.#revoked || offset <= this.#requested) return;
    this.#requested = offset;
    this.#next = offset;
    if (!this.#sending) {
      this.#sending = true;
      this.#sent = this.#send();
    }
  }

  /** The partition belongs to another poller now: nothing more is committed for it. */
  revoke() {
    this.#revoked = true;
  }

  async #send() {
    const { mapping, commit, log } = this.#host;
    try {
      for (let offset = this.#next; offset !== undefined; offset = this.#next) {
        this.#next = undefined;
        if (this.#revoked) return;
        try {
          await commit(this.partition, offset);
          if (offset > this.#committed) this.#committed = offset;
          this.#failures = 0;
        } catch (error) {
          const retriable =
            /** @type {{ retriable?: unknown } | null} */ (error)?.retriable !== false;
          const delay =
            COMMIT_RETRY_DELAYS_MS[Math.min(this.#failures, COMMIT_RETRY_DELAYS_MS.length - 1)];
          this.#failures += 1;
          log.warning(
            `Kafka ${mapping.functionKey} ${mapping.topic}-${this.partition}: could not commit offset ${offset} (${retriable && !this.#revoked ? `trying again in ${(Number(delay) / 1000).toFixed(1)} s` : 'records after the last commit will be delivered again'}): ${describe(error)}`,
          );
          if (!retriable || this.#revoked) continue;
          // A later offset asked for meanwhile replaces this one.
          if (this.#next === undefined) this.#next = offset;
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    } finally {
      this.#sending = false;
    }
  }
}

module.exports = { Committer };
