// @ts-check
'use strict';

/**
 * Read committed, a fetch response lists the aborted transactions that overlap it (producer id,
 * first offset); a consumer drops a transactional record whose producer has an aborted
 * transaction begun at or before it and not yet ended by its ABORT marker.
 *
 * kafkajs 2.2.4 (src/consumer/filterAbortedMessages.js) takes at most one aborted transaction per
 * record it looks at. A fetch that starts inside two aborted transactions (after a restart or a
 * rebalance, from a committed offset) takes the second one a record late, and hands that record
 * over although it was aborted. Seen in the publisher's fault test: a record of an aborted
 * transaction, read from its own offset, was delivered; read from 0, it was not. Kafka's Java
 * consumer takes every aborted transaction begun at or before the batch at hand
 * (`CompletedFetch.abortedProducerIds`), as `filterAborted` does here.
 */

/** The key of an ABORT control record: version 0, type 0. */
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

/**
 * @typedef {{
 *   offset: string,
 *   key: Buffer | string | null | undefined,
 *   isControlRecord?: boolean,
 *   batchContext: { producerId: unknown, inTransaction: boolean },
 * }} FetchedRecord
 * @typedef {{ producerId: unknown, firstOffset: string }} AbortedTransaction
 */

/** @param {FetchedRecord} record */
const isAbortMarker = (record) =>
  record.key != null && Buffer.from(record.key).equals(ABORT_MARKER_KEY);

/**
 * The records of `messages` (in offset order) that no aborted transaction holds; control records
 * stay (kafkajs drops them afterwards).
 * @template {FetchedRecord} T
 * @param {{ messages: T[], abortedTransactions?: AbortedTransaction[] }} fetched
 * @returns {T[]}
 */
const filterAborted = ({ messages, abortedTransactions }) => {
  if (!abortedTransactions?.length) return messages;
  const pending = [...abortedTransactions].sort((a, b) =>
    BigInt(a.firstOffset) < BigInt(b.firstOffset) ? -1 : 1,
  );
  /** Producers whose aborted transaction is under way at the record at hand. */
  const aborting = new Set();
  return messages.filter((message) => {
    const offset = BigInt(message.offset);
    while (
      pending.length > 0 &&
      BigInt(/** @type {AbortedTransaction} */ (pending[0]).firstOffset) <= offset
    )
      aborting.add(String(/** @type {AbortedTransaction} */ (pending.shift()).producerId));
    const producerId = String(message.batchContext.producerId);
    if (isAbortMarker(message)) {
      aborting.delete(producerId);
      return true;
    }
    return !(message.batchContext.inTransaction && aborting.has(producerId));
  });
};

const FILTER_MODULE = 'kafkajs/src/consumer/filterAbortedMessages.js';
const BATCH_MODULE = 'kafkajs/src/consumer/batch.js';

/**
 * Puts `filterAborted` in the place of kafkajs's filter (in Node's module cache, before kafkajs's
 * consumer first loads it), for every kafkajs consumer of this process: it only ever drops
 * records kafkajs wrongly keeps. As for the decoder (`records.js`), kafkajs has no hook: another
 * layout, or kafkajs's consumer loaded before this, leaves kafkajs's filter alone and says why.
 * @param {NodeJS.Require} [req]
 * @returns {{ installed: true } | { installed: false, reason: string }}
 */
const install = (req = require) => {
  try {
    const path = req.resolve(FILTER_MODULE);
    const original = req(path);
    const entry = req.cache[path];
    if (!entry || typeof original !== 'function')
      return { installed: false, reason: 'kafkajs has no aborted-transaction filter module' };
    if (original === filterAborted) return { installed: true };
    if (req.cache[req.resolve(BATCH_MODULE)] !== undefined)
      return { installed: false, reason: 'kafkajs consumed records before this plugin loaded' };
    entry.exports = filterAborted;
    return { installed: true };
  } catch (error) {
    return {
      installed: false,
      reason: `kafkajs's internals are not where expected (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
    };
  }
};

module.exports = { filterAborted, install };
