// @ts-check
'use strict';

/**
 * Batching rules of Lambda's Kafka event source mapping, as pure functions over one partition's
 * queue. Lambda invokes at whichever comes first: the batching window ends (timed from the
 * first record), `BatchSize` records are ready, or one more record would take the event past
 * 6 MB. A record that alone makes the event exceed 6 MB is never delivered.
 */

/**
 * @typedef {import('./event').LambdaKafkaRecord} LambdaKafkaRecord
 * @typedef {{
 *   record: LambdaKafkaRecord,
 *   offset: bigint,
 *   bytes: number,
 *   deliver: boolean,
 *   arrivedAt: number,
 * }} QueuedRecord `deliver` is false for records that no filter matches.
 * @typedef {{ batchSize: number, maxEventBytes: number, envelopeBytes: number }} BatchLimits
 * @typedef {{
 *   taken: number,
 *   records: LambdaKafkaRecord[],
 *   oversized: LambdaKafkaRecord[],
 *   skipped: number,
 *   lastOffset: bigint,
 * }} Batch `taken` queue entries, of which `records` are delivered; `lastOffset` is the last
 *   taken entry's offset (delivered, filtered out or oversized): the batch commits past it.
 */

/**
 * Whether the queue should be invoked now rather than waiting for more records.
 * @param {readonly QueuedRecord[]} queue
 * @param {BatchLimits} limits
 * @returns {boolean}
 */
const isFull = (queue, limits) => {
  let count = 0;
  let bytes = limits.envelopeBytes;
  for (const entry of queue) {
    if (!entry.deliver) continue;
    count += 1;
    bytes += entry.bytes;
    if (count >= limits.batchSize || bytes > limits.maxEventBytes) return true;
  }
  return false;
};

/**
 * When the batching window of the batch being gathered closes: `windowMs` after its first
 * record arrived, or after the previous invocation ended if records were already waiting.
 * @param {readonly QueuedRecord[]} queue
 * @param {number} windowMs
 * @param {number} previousEnd
 */
const windowClosesAt = (queue, windowMs, previousEnd) => {
  const first = queue[0];
  if (!first) return Number.POSITIVE_INFINITY;
  return Math.max(first.arrivedAt, previousEnd) + windowMs;
};

/**
 * Takes the next batch from the head of the queue (without removing it).
 * Records that no filter matches are taken along, so that their offsets are committed.
 * @param {readonly QueuedRecord[]} queue
 * @param {BatchLimits} limits
 * @returns {Batch}
 */
const takeBatch = (queue, limits) => {
  /** @type {LambdaKafkaRecord[]} */
  const records = [];
  /** @type {LambdaKafkaRecord[]} */
  const oversized = [];
  let bytes = limits.envelopeBytes;
  let taken = 0;
  let skipped = 0;
  let lastOffset = -1n;
  for (const entry of queue) {
    if (entry.deliver) {
      if (records.length >= limits.batchSize) break;
      if (limits.envelopeBytes + entry.bytes > limits.maxEventBytes) {
        // Never deliverable: only taken on its own, so that the records before it go first.
        if (records.length > 0) break;
        oversized.push(entry.record);
      } else if (bytes + entry.bytes > limits.maxEventBytes) {
        break;
      } else {
        records.push(entry.record);
        bytes += entry.bytes;
      }
    } else {
      skipped += 1;
    }
    taken += 1;
    lastOffset = entry.offset;
    if (oversized.length > 0) break;
  }
  return { taken, records, oversized, skipped, lastOffset };
};

module.exports = { isFull, takeBatch, windowClosesAt };
