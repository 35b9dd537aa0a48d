// @ts-check
'use strict';

const { MAX_EVENT_BYTES, buildEvent, recordBytes, toLambdaRecord } = require('./event');
const { isFull, takeBatch, windowClosesAt } = require('./batcher');

/**
 * One partition of one mapping: queues fetched records, gathers them into batches by Lambda's
 * rules, invokes the function with at most one batch in flight, and commits only what
 * succeeded. A failed batch is retried whole, with backoff, blocking this partition only.
 */

/**
 * @typedef {import('./batcher').QueuedRecord} QueuedRecord
 * @typedef {import('./event').LambdaKafkaRecord} LambdaKafkaRecord
 * @typedef {import('./event').LambdaKafkaEvent} LambdaKafkaEvent
 * @typedef {import('./event').KafkaMessageLike} KafkaMessageLike
 * @typedef {import('./definition').Mapping} Mapping
 * @typedef {{ notice(m: string): void, warning(m: string): void, error(m: string): void, debug(m: string): void }} Log
 * @typedef {{
 *   mapping: Mapping,
 *   bootstrapServers: readonly string[],
 *   envelopeBytes: number,
 *   invoke: (event: LambdaKafkaEvent) => Promise<unknown>,
 *   commit: (partition: number, offset: bigint) => Promise<void>,
 *   pause: (partition: number) => void,
 *   resume: (partition: number) => void,
 *   giveUp: (records: LambdaKafkaRecord[], condition: 'RetriesExhausted' | 'RecordAgeExceeded', invokeCount: number, error: string | undefined) => Promise<void>,
 *   retryDelayMs: (attempt: number) => number,
 *   log: Log,
 *   now?: () => number,
 * }} WorkerHost
 * @typedef {{ kind: 'ok' } | { kind: 'partial', from: number, failed: number } | { kind: 'failed', error: string }} Outcome
 */

/** Stop fetching a partition while this many records wait, resume below half of it. */
const QUEUE_HIGH_WATER_RECORDS = 20_000;
const QUEUE_HIGH_WATER_BYTES = 4 * MAX_EVENT_BYTES;

class PartitionWorker {
  /** @type {QueuedRecord[]} */
  #queue = [];
  #queueBytes = 0;
  #lastEnqueued = -1n;
  #previousEnd = 0;
  #stopped = false;
  /** Settles when the commits sent so far have been answered. */
  #committing = Promise.resolve();
  /** The offset to commit once the commit in flight is answered, if any. */
  /** @type {bigint | undefined} */
  #nextCommit;
  #commitInFlight = false;
  #revoked = false;
  #paused = false;
  /** @type {(() => void) | undefined} */
  #wake;
  /** @type {WorkerHost} */
  #host;
  /** @type {() => number} */
  #now;
  /** Settles when the worker has stopped (after any in-flight invocation). */
  done;

  /**
   * @param {number} partition
   * @param {WorkerHost} host
   */
  constructor(partition, host) {
    this.partition = partition;
    this.#host = host;
    this.#now = host.now ?? Date.now;
    this.done = this.#run().catch((error) => {
      host.log.error(`${this.#label()}: stopped unexpectedly: ${describe(error)}`);
    });
  }

  /** @param {readonly KafkaMessageLike[]} messages */
  enqueue(messages) {
    if (this.#stopped) return;
    const { mapping } = this.#host;
    const arrivedAt = this.#now();
    for (const message of messages) {
      const offset = BigInt(message.offset);
      // After a rebalance kafkajs may fetch again from the last commit: keep one copy.
      if (offset <= this.#lastEnqueued) continue;
      this.#lastEnqueued = offset;
      const record = toLambdaRecord(mapping.topic, this.partition, message);
      const bytes = recordBytes(record);
      this.#queue.push({ record, offset, bytes, deliver: mapping.filter(record.value), arrivedAt });
      this.#queueBytes += bytes;
    }
    if (
      !this.#paused &&
      (this.#queue.length >= QUEUE_HIGH_WATER_RECORDS || this.#queueBytes >= QUEUE_HIGH_WATER_BYTES)
    ) {
      this.#paused = true;
      this.#host.pause(this.partition);
    }
    this.#wake?.();
  }

  /** Takes no new batch; an invocation in flight finishes and commits. */
  stop() {
    this.#stopped = true;
    this.#wake?.();
  }

  /** The partition now belongs to another consumer: drop the queue and never commit again. */
  revoke() {
    this.#revoked = true;
    this.#queue = [];
    this.#queueBytes = 0;
    // kafkajs keeps a partition paused across rebalances: were it assigned back, it would never
    // be fetched again.
    if (this.#paused) {
      this.#paused = false;
      this.#host.resume(this.partition);
    }
    this.stop();
  }

  async #run() {
    try {
      await this.#loop();
    } finally {
      // What succeeded is committed before the worker counts as stopped.
      await this.#committing;
    }
  }

  async #loop() {
    const { mapping, envelopeBytes } = this.#host;
    const limits = { batchSize: mapping.batchSize, maxEventBytes: MAX_EVENT_BYTES, envelopeBytes };
    while (!this.#stopped) {
      if (this.#queue.length === 0) {
        await this.#sleepUntil(Number.POSITIVE_INFINITY);
        continue;
      }
      const closesAt = windowClosesAt(this.#queue, mapping.windowMs, this.#previousEnd);
      if (!isFull(this.#queue, limits) && this.#now() < closesAt) {
        await this.#sleepUntil(closesAt);
        continue;
      }
      const batch = takeBatch(this.#queue, limits);
      for (const record of batch.oversized) {
        this.#host.log.error(
          `${this.#label()}: record at offset ${record.offset} makes the event larger than 6 MB; Lambda never delivers such a record, so it is skipped`,
        );
      }
      if (batch.records.length > 0 && !(await this.#deliver(batch.records, 0))) return;
      // Not awaited: the next batch need not wait for the broker to answer this commit (a
      // consumer-group commit takes 5 ms or more: Kafka 4's group.coordinator.append.linger.ms).
      void this.#commit(batch.lastOffset + 1n);
      const removed = this.#queue.splice(0, batch.taken);
      for (const entry of removed) this.#queueBytes -= entry.bytes;
      this.#previousEnd = this.#now();
      if (
        this.#paused &&
        this.#queue.length < QUEUE_HIGH_WATER_RECORDS / 2 &&
        this.#queueBytes < QUEUE_HIGH_WATER_BYTES / 2
      ) {
        this.#paused = false;
        this.#host.resume(this.partition);
      }
    }
  }

  /**
   * Delivers `records` until they succeed, or are given up on (provisioned mode). Resolves false
   * when the worker stopped first (nothing more is committed; the records will come again).
   * @param {LambdaKafkaRecord[]} records
   * @param {number} attempts invocations already made for these records
   * @returns {Promise<boolean>}
   */
  async #deliver(records, attempts) {
    const policy = this.#host.mapping.errorHandling;
    let pending = records;
    let attempt = attempts;
    for (;;) {
      if (this.#stopped && attempt > attempts) return false;
      pending = await this.#dropExpired(pending, attempt);
      if (pending.length === 0) return true;
      const outcome = await this.#invokeOnce(pending, attempt + 1);
      if (outcome.kind === 'ok') return true;
      attempt += 1;
      const error = outcome.kind === 'failed' ? outcome.error : undefined;
      if (outcome.kind === 'partial') {
        // Processing resumes at the lowest failed offset; what came before it succeeded.
        await this.#commit(BigInt(outcome.from));
        pending = pending.filter((r) => r.offset >= outcome.from);
      }
      if (policy.maxRetries >= 0 && attempt > policy.maxRetries) {
        await this.#host.giveUp(pending, 'RetriesExhausted', attempt, error);
        return true;
      }
      if (policy.bisect && outcome.kind === 'failed' && pending.length > 1) {
        const half = Math.ceil(pending.length / 2);
        const first = pending.slice(0, half);
        if (!(await this.#deliver(first, attempt))) return false;
        const last = first[first.length - 1];
        if (last) await this.#commit(BigInt(last.offset) + 1n);
        return this.#deliver(pending.slice(half), attempt);
      }
      const delay = this.#host.retryDelayMs(attempt);
      this.#host.log.warning(
        `${this.#label()}: retrying ${this.#range(pending)} in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1})`,
      );
      if (!(await this.#sleepFor(delay))) return false;
    }
  }

  /**
   * Provisioned mode with MaximumRecordAgeInSeconds: records older than that are given up on.
   * @param {LambdaKafkaRecord[]} records
   * @param {number} attempts
   */
  async #dropExpired(records, attempts) {
    const maxAge = this.#host.mapping.errorHandling.maxRecordAgeMs;
    if (maxAge < 0) return records;
    const oldest = this.#now() - maxAge;
    const expired = records.filter((r) => r.timestamp < oldest);
    if (expired.length === 0) return records;
    await this.#host.giveUp(expired, 'RecordAgeExceeded', attempts, undefined);
    return records.filter((r) => r.timestamp >= oldest);
  }

  /**
   * @param {LambdaKafkaRecord[]} records
   * @param {number} attempt
   * @returns {Promise<Outcome>}
   */
  async #invokeOnce(records, attempt) {
    const { mapping, bootstrapServers, log } = this.#host;
    const event = buildEvent(mapping.source, bootstrapServers, records);
    const started = this.#now();
    /** @type {Outcome} */
    let outcome;
    try {
      const result = await this.#host.invoke(event);
      outcome = mapping.errorHandling.reportBatchItemFailures
        ? partialOutcome(result, records)
        : { kind: 'ok' };
    } catch (error) {
      outcome = { kind: 'failed', error: describe(error) };
    }
    const ms = this.#now() - started;
    const head = `${this.#label()} ${this.#range(records)} ${records.length} record${records.length === 1 ? '' : 's'} ${ms} ms`;
    const tries = attempt > 1 ? ` (attempt ${attempt})` : '';
    if (outcome.kind === 'ok') log.notice(`${head} ok${tries}`);
    else if (outcome.kind === 'partial')
      log.warning(
        `${head} partial failure${tries}: ${outcome.failed} failed, lowest offset ${outcome.from}`,
      );
    else log.warning(`${head} failed${tries}: ${outcome.error}`);
    return outcome;
  }

  /**
   * Commits `offset` (the next offset to read) after what was committed before, in order. One
   * commit is in flight at a time; offsets that arrive meanwhile are folded into the next one,
   * so a partition never queues commits faster than the broker answers them.
   * @param {bigint} offset
   * @returns {Promise<void>} settles when this offset (or a later one) has been answered
   */
  #commit(offset) {
    if (this.#revoked || offset < 0n) return this.#committing;
    this.#nextCommit = offset;
    if (!this.#commitInFlight) {
      this.#commitInFlight = true;
      this.#committing = this.#sendCommits();
    }
    return this.#committing;
  }

  async #sendCommits() {
    try {
      for (let offset = this.#nextCommit; offset !== undefined; offset = this.#nextCommit) {
        this.#nextCommit = undefined;
        if (this.#revoked) return;
        try {
          await this.#host.commit(this.partition, offset);
        } catch (error) {
          this.#host.log.warning(
            `${this.#label()}: could not commit offset ${offset} (records after the last commit will be delivered again): ${describe(error)}`,
          );
        }
      }
    } finally {
      this.#commitInFlight = false;
    }
  }

  /** @param {number} ms @returns {Promise<boolean>} false when stopped meanwhile */
  async #sleepFor(ms) {
    const until = this.#now() + ms;
    while (!this.#stopped && this.#now() < until) await this.#sleepUntil(until);
    return !this.#stopped;
  }

  /** Sleeps until `time`, new records, or stop. @param {number} time */
  #sleepUntil(time) {
    return new Promise((resolve) => {
      const delay = time - this.#now();
      const timer = Number.isFinite(delay) ? setTimeout(done, Math.max(0, delay)) : undefined;
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.#wake === done) self.#wake = undefined;
        resolve(undefined);
      }
      this.#wake = done;
    });
  }

  #label() {
    const { mapping } = this.#host;
    return `Kafka ${mapping.functionKey} ${mapping.topic}-${this.partition}`;
  }

  /** @param {readonly LambdaKafkaRecord[]} records */
  #range(records) {
    const first = records[0]?.offset;
    const last = records[records.length - 1]?.offset;
    return first === last ? `[${first}]` : `[${first}..${last}]`;
  }
}

/**
 * Reads a partial batch response (`ReportBatchItemFailures`). `null`, `{}` or an empty list mean
 * success; an identifier that is not in the event, or a malformed response, fails the batch.
 * @param {unknown} result
 * @param {readonly LambdaKafkaRecord[]} records
 * @returns {Outcome}
 */
const partialOutcome = (result, records) => {
  if (result === null || result === undefined) return { kind: 'ok' };
  if (typeof result !== 'object')
    return { kind: 'failed', error: 'invalid partial batch response (not an object)' };
  const failures = /** @type {{ batchItemFailures?: unknown }} */ (result).batchItemFailures;
  if (failures === null || failures === undefined) return { kind: 'ok' };
  if (!Array.isArray(failures))
    return {
      kind: 'failed',
      error: 'invalid partial batch response: batchItemFailures is not a list',
    };
  if (failures.length === 0) return { kind: 'ok' };
  const known = new Set(records.map((r) => `${r.topic}-${r.partition}#${r.offset}`));
  let from = Number.POSITIVE_INFINITY;
  for (const failure of failures) {
    const id = failure?.itemIdentifier;
    const offset = Number(id?.offset);
    if (!known.has(`${id?.partition}#${offset}`)) {
      return {
        kind: 'failed',
        error: `partial batch response names a record not in the batch: ${JSON.stringify(id ?? null)}`,
      };
    }
    from = Math.min(from, offset);
  }
  return { kind: 'partial', from, failed: failures.length };
};

/** @param {unknown} error */
const describe = (error) => {
  if (error instanceof Error)
    return `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`;
  return String(error);
};

module.exports = { PartitionWorker, describe, partialOutcome };
