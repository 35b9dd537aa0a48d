// @ts-check
'use strict';

const { MAX_EVENT_BYTES, recordBytes } = require('./event');
const { takeFrom } = require('./batcher');

/**
 * One owned partition's records between their fetch and their delivery, in offset order: what
 * waits, whether a batch of it is in flight (at most one), when its batching window closes, and
 * back-pressure on the fetch while too much waits.
 *
 * @typedef {import('./batcher').QueuedRecord} QueuedRecord
 * @typedef {import('./batcher').ShareLimits} ShareLimits
 * @typedef {import('./batcher').Share} Share
 * @typedef {import('./event').KafkaMessageLike} KafkaMessageLike
 * @typedef {import('./event').LambdaKafkaRecord} LambdaKafkaRecord
 * @typedef {(message: KafkaMessageLike) => { record: LambdaKafkaRecord, deliver: boolean, rejected?: import('./batcher').Rejection }} Admit
 *   What a fetched message becomes in the queue: its Lambda record, and whether it is to be
 *   delivered (false when no filter matches it, or when the schema registry step rejected it:
 *   `rejected` says why).
 * @typedef {{
 *   pause: (partition: number) => void,
 *   resume: (partition: number) => void,
 *   now: () => number,
 * }} QueueHost `pause` and `resume` the partition's fetching.
 */

/** Stop fetching a partition while this many records wait, resume below half of it. */
const QUEUE_HIGH_WATER_RECORDS = 20_000;
const QUEUE_HIGH_WATER_BYTES = 4 * MAX_EVENT_BYTES;

class PartitionQueue {
  /** From index `#head` on, the records waiting. @type {QueuedRecord[]} */
  #entries = [];
  #head = 0;
  #bytes = 0;
  #lastEnqueued = -1n;
  /** When the partition's previous batch ended: its next batching window opens no earlier. */
  #previousEnd = 0;
  #paused = false;
  #revoked = false;
  #busy = false;
  /** Settles when the batch in flight (if `#busy`) ends. */
  #freed = Promise.resolve();
  #release = () => undefined;
  /** @type {QueueHost} */
  #host;
  /** The partition's end offset as last fetched, for the offset lag. */
  highWatermark = 0n;

  /**
   * @param {number} partition
   * @param {QueueHost} host
   */
  constructor(partition, host) {
    this.partition = partition;
    this.#host = host;
  }

  /**
   * Queues fetched messages as `admit` makes them, skipping any at or below the last queued
   * offset (after a rebalance kafkajs may fetch again from the last commit), and pauses fetching
   * while too much waits.
   * `through`: the offset the fetch read up to, past the last message when records Lambda never
   * sees follow it (transaction markers, records of aborted transactions); a gap entry, never
   * delivered, carries the commit past them, as the Java consumer's position moves past them.
   * @param {readonly KafkaMessageLike[]} messages
   * @param {string | undefined} highWatermark
   * @param {Admit} admit
   * @param {bigint} [through]
   */
  enqueue(messages, highWatermark, admit, through) {
    if (this.#revoked) return;
    if (highWatermark !== undefined) this.highWatermark = BigInt(highWatermark);
    const arrivedAt = this.#host.now();
    for (const message of messages) {
      const offset = BigInt(message.offset);
      if (offset <= this.#lastEnqueued) continue;
      this.#lastEnqueued = offset;
      const { record, deliver, rejected } = admit(message);
      const bytes = recordBytes(record);
      this.#entries.push({
        record,
        offset,
        bytes,
        deliver,
        arrivedAt,
        ...(rejected ? { rejected } : {}),
      });
      this.#bytes += bytes;
    }
    if (through !== undefined && through > this.#lastEnqueued) {
      this.#lastEnqueued = through;
      this.#entries.push({ offset: through, bytes: 0, deliver: false, arrivedAt });
    }
    if (
      !this.#paused &&
      (this.waiting >= QUEUE_HIGH_WATER_RECORDS || this.#bytes >= QUEUE_HIGH_WATER_BYTES)
    ) {
      this.#paused = true;
      this.#host.pause(this.partition);
    }
  }

  /** How many records wait. */
  get waiting() {
    return this.#entries.length - this.#head;
  }

  /** The oldest waiting record. */
  get first() {
    return this.#entries[this.#head];
  }

  /** Whether a batch of this partition is in flight. */
  get busy() {
    return this.#busy;
  }

  /** Settles when the batch in flight, if any, ends. */
  get freed() {
    return this.#freed;
  }

  /**
   * When the batching window of the waiting records closes: timed from the first of them, or
   * from the end of the partition's previous batch if they waited for it.
   * @param {number} windowMs
   */
  windowClosesAt(windowMs) {
    const first = /** @type {QueuedRecord} */ (this.first);
    return Math.max(first.arrivedAt, this.#previousEnd) + windowMs;
  }

  /**
   * Adds the waiting records to `load`, the event being sized, until it is full: `batchSize`
   * records, or more than 6 MB. Returns whether it is.
   * @param {{ count: number, bytes: number }} load
   * @param {number} batchSize
   */
  fills(load, batchSize) {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const entry = /** @type {QueuedRecord} */ (this.#entries[i]);
      if (!entry.deliver) continue;
      load.count += 1;
      load.bytes += entry.bytes;
      if (load.count >= batchSize || load.bytes > MAX_EVENT_BYTES) return true;
    }
    return false;
  }

  /**
   * Takes the partition's share of an event (`takeFrom`), which holds it until `batchEnded`.
   * @param {ShareLimits} limits
   * @returns {Share}
   */
  take(limits) {
    const share = takeFrom(this.#entries, this.#head, limits);
    if (share.taken > 0) this.hold();
    return share;
  }

  /** Marks a batch of the partition as in flight, until `release`. */
  hold() {
    this.#busy = true;
    this.#freed = new Promise((resolve) => {
      this.#release = () => {
        this.#busy = false;
        this.#release = () => undefined;
        resolve();
      };
    });
  }

  /** The batch in flight has ended. */
  release() {
    this.#release();
  }

  /**
   * The partition's batch has ended: its `taken` records leave the queue when `consumed` (else
   * they stay, to be taken again), and fetching resumes once little enough waits.
   * @param {number} taken
   * @param {boolean} consumed
   */
  batchEnded(taken, consumed) {
    this.release();
    if (this.#revoked) return;
    this.#previousEnd = this.#host.now();
    if (!consumed) return;
    for (let i = this.#head; i < this.#head + taken; i++)
      this.#bytes -= /** @type {QueuedRecord} */ (this.#entries[i]).bytes;
    this.#head += taken;
    // Drop consumed entries now and then rather than shifting the array every time.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    if (
      this.#paused &&
      this.waiting < QUEUE_HIGH_WATER_RECORDS / 2 &&
      this.#bytes < QUEUE_HIGH_WATER_BYTES / 2
    ) {
      this.#paused = false;
      this.#host.resume(this.partition);
    }
  }

  /**
   * The partition now belongs to another poller: its waiting records are dropped, and it takes
   * none again.
   */
  revoke() {
    this.#revoked = true;
    this.#entries = [];
    this.#head = 0;
    this.#bytes = 0;
    // kafkajs keeps a partition paused across rebalances: were it assigned back, it would never
    // be fetched again.
    if (this.#paused) {
      this.#paused = false;
      this.#host.resume(this.partition);
    }
  }
}

module.exports = { PartitionQueue };
