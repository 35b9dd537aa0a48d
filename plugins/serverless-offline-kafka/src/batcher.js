// @ts-check
'use strict';

/**
 * Batching rules of Lambda's Kafka event source mapping, as a pure function over one
 * partition's queue: how much of it goes into the event being assembled. An event holds at most
 * `BatchSize` records and 6 MB over all its partitions (the poller passes what is left of both);
 * a record that alone makes an event exceed 6 MB is never delivered.
 */

/**
 * @typedef {import('./event').LambdaKafkaRecord} LambdaKafkaRecord
 * @typedef {{
 *   record: LambdaKafkaRecord,
 *   offset: bigint,
 *   bytes: number,
 *   deliver: boolean,
 *   arrivedAt: number,
 *   rejected?: Rejection,
 * } | { offset: bigint, bytes: 0, deliver: false, arrivedAt: number, record?: undefined, rejected?: undefined }} QueuedRecord
 *   `deliver` is false for records that no filter matches, for records the schema registry
 *   step rejected (`rejected`: why), which go to the on-failure destination, and for gaps (no
 *   `record`): offsets of records Lambda never sees, committed past.
 * @typedef {import('./registry/deserializer').Rejection} Rejection
 * @typedef {{ record: LambdaKafkaRecord, rejection: Rejection }} RejectedRecord
 * @typedef {{ maxRecords: number, bytesLeft: number, aloneLimit: number }} ShareLimits
 *   `bytesLeft`: room left in the event; `aloneLimit`: the most one record may take in an event
 *   of its own (6 MB less the envelope).
 * @typedef {{
 *   taken: number,
 *   records: LambdaKafkaRecord[],
 *   oversized: LambdaKafkaRecord[],
 *   rejected: RejectedRecord[],
 *   bytes: number,
 *   lastOffset: bigint,
 * }} Share `taken` queue entries from `head`, of which `records` are delivered (`bytes` in all);
 *   `lastOffset` is the last taken entry's offset (delivered, filtered out or oversized): the
 *   partition commits past it.
 */

/**
 * Takes this partition's share of an event from `queue[head..]` (without removing it). Records
 * that no filter matches, and rejected records, are taken along, so that their offsets are
 * committed (and the rejected ones sent to the destination first); an oversized
 * record is taken only at the head of a share, alone, so that the records before it go first.
 * @param {readonly QueuedRecord[]} queue
 * @param {number} head
 * @param {ShareLimits} limits
 * @returns {Share}
 */
const takeFrom = (queue, head, limits) => {
  /** @type {LambdaKafkaRecord[]} */
  const records = [];
  /** @type {LambdaKafkaRecord[]} */
  const oversized = [];
  /** @type {RejectedRecord[]} */
  const rejected = [];
  let bytes = 0;
  let taken = 0;
  let lastOffset = -1n;
  for (let i = head; i < queue.length; i++) {
    const entry = /** @type {QueuedRecord} */ (queue[i]);
    if (entry.deliver) {
      if (entry.bytes > limits.aloneLimit) {
        if (records.length > 0) break;
        oversized.push(entry.record);
        taken += 1;
        lastOffset = entry.offset;
        break;
      }
      if (records.length >= limits.maxRecords || bytes + entry.bytes > limits.bytesLeft) break;
      records.push(entry.record);
      bytes += entry.bytes;
    } else if (entry.rejected) {
      rejected.push({ record: entry.record, rejection: entry.rejected });
    }
    taken += 1;
    lastOffset = entry.offset;
  }
  return { taken, records, oversized, rejected, bytes, lastOffset };
};

module.exports = { takeFrom };
