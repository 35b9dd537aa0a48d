// @ts-check
'use strict';

const { setMaxListeners } = require('node:events');
const { setTimeout: sleep } = require('node:timers/promises');
const { buildEvent } = require('./event');
const { describe, offsetRanges, recordsLabel } = require('./util');

/**
 * Delivers the events a poller starts, one `run` per event, until each record succeeded or was
 * given up on, and commits each partition's share of the event as far as it is done. As AWS:
 * - a failed event is retried whole with backoff (`retryDelayMs`), blocking its partitions only;
 *   on-demand mode retries until it succeeds;
 * - with `ReportBatchItemFailures`, a partial batch response retries only the failed records
 *   (kafka-retry-configurations), and each partition is committed up to its lowest failed offset;
 * - in provisioned mode, `MaximumRetryAttempts` and `MaximumRecordAgeInSeconds` give records up
 *   (to the on-failure destination, conditions `RetriesExhausted` and `RecordAgeExceeded`), and
 *   `BisectBatchOnFunctionError` retries a failed event as two halves, the first half first;
 * - a record too large for any event is given up on (`MaximumPayloadSizeExceeded`) once the
 *   records before it are delivered;
 * - once a partial batch response (or a bisected half) leaves a partition with nothing to retry,
 *   that partition is committed and goes on at once: only partitions with records still being
 *   retried wait.
 *
 * @typedef {import('./event').LambdaKafkaRecord} LambdaKafkaRecord
 * @typedef {import('./event').LambdaKafkaEvent} LambdaKafkaEvent
 * @typedef {import('./definition').Mapping} Mapping
 * @typedef {import('./util').Log} Log
 * @typedef {InstanceType<typeof import('./partition-queue').PartitionQueue>} PartitionQueue
 * @typedef {InstanceType<typeof import('./committer').Committer>} Committer
 * @typedef {import('./destination').Failure} Failure
 * @typedef {Pick<InstanceType<typeof import('./destination').Destination>, 'send'>} Destination
 * @typedef {import('./batcher').Share & { queue: PartitionQueue, committer: Committer }} Share
 *   One partition's share of an event: the records taken from its queue, and its committer.
 * @typedef {{
 *   mapping: Mapping,
 *   bootstrapServers: readonly string[],
 *   invoke: (event: LambdaKafkaEvent) => Promise<unknown>,
 *   destination: Destination,
 *   retryDelayMs: (attempt: number) => number,
 *   log: Log,
 *   now: () => number,
 *   freed: () => void,
 * }} DeliveryHost `destination`: where records given up on go; `freed`: partitions of an event
 *   are free to take their next batch.
 * @typedef {{ kind: 'ok' } | { kind: 'partial', failed: LambdaKafkaRecord[] } | { kind: 'failed', error: string }} Outcome
 * @typedef {{
 *   shares: ReadonlyMap<number, Share>,
 *   held: Set<Share>,
 *   later: readonly LambdaKafkaRecord[],
 *   since: number,
 *   attempts: number,
 *   lastError: string | undefined,
 * }} EventProgress The event's shares by partition, those it still holds, the records that outer
 *   bisection steps have yet to deliver; since when it runs, its invocations so far and the last
 *   one's error (for `inFlight`).
 * @typedef {{
 *   partition: number,
 *   firstOffset: number | null,
 *   lastOffset: number,
 *   records: number,
 *   since: number,
 *   attempts: number,
 *   lastError: string | null,
 * }} InFlightBatch One partition's batch in flight: its offsets (`firstOffset` null when every
 *   record of it was filtered out), since when (ms since the epoch), the invocations of its event
 *   so far and the last one's error.
 */

/** Invocations per second are counted over this many last whole seconds. */
const RATE_WINDOW_S = 10;

class Delivery {
  /** @type {DeliveryHost} */
  #host;
  /**
   * Aborted by `stop`: it wakes the retry sleeps (one listener per event in flight, so without
   * a listener limit), and a destination that cannot be written gives up.
   */
  #stopping = new AbortController();
  /**
   * Since start: invocations and failed invocations (MetricsConfig EventCount, ErrorCount),
   * records delivered, invocations that were retries, records sent to the on-failure
   * destination, and the last invocation error (its message and when, ms since the epoch).
   * @type {{ events: number, errors: number, records: number, retries: number, sentToDestination: number, lastError: { message: string, at: number } | null }}
   */
  metrics = {
    events: 0,
    errors: 0,
    records: 0,
    retries: 0,
    sentToDestination: 0,
    lastError: null,
  };
  /** @type {Set<EventProgress>} */
  #running = new Set();
  /** Invocations started in each of the last `RATE_WINDOW_S` seconds (by second % window). */
  #perSecond = new Array(RATE_WINDOW_S).fill(0);
  #second = 0;

  /** @param {DeliveryHost} host */
  constructor(host) {
    this.#host = host;
    setMaxListeners(0, this.#stopping.signal);
  }

  /** Ends each event at its next retry, uncommitted (its records will come again). */
  stop() {
    this.#stopping.abort();
  }

  /**
   * Delivers one event made of `shares`; settles once every share is released (its partition
   * free again), committed if it was consumed.
   * @param {Share[]} shares
   */
  async run(shares) {
    /** @type {EventProgress} */
    const progress = {
      shares: new Map(shares.map((s) => [s.queue.partition, s])),
      held: new Set(shares),
      later: [],
      since: this.#host.now(),
      attempts: 0,
      lastError: undefined,
    };
    this.#running.add(progress);
    const records = shares.flatMap((s) => s.records);
    let consumed = false;
    try {
      consumed = records.length === 0 || (await this.#deliver(records, 0, progress));
      if (consumed) for (const share of [...progress.held]) await this.#finish(share, progress);
    } catch (error) {
      // Only a destination that cannot be written while stopping gets here.
      consumed = false;
      this.#host.log.error(`${recordsLabel(this.#host.mapping, records)}: ${describe(error)}`);
    } finally {
      this.#running.delete(progress);
      for (const share of progress.held) share.queue.batchEnded(share.taken, consumed);
      this.#host.freed();
    }
  }

  /**
   * The batches in flight, one per partition, ordered by partition: plain data.
   * @returns {InFlightBatch[]}
   */
  inFlight() {
    /** @type {InFlightBatch[]} */
    const batches = [];
    for (const progress of this.#running) {
      for (const share of progress.held) {
        const first = share.records[0];
        batches.push({
          partition: share.queue.partition,
          firstOffset: first ? Number(first.offset) : null,
          lastOffset: Number(share.lastOffset),
          records: share.records.length,
          since: progress.since,
          attempts: progress.attempts,
          lastError: progress.lastError ?? null,
        });
      }
    }
    return batches.sort((a, b) => a.partition - b.partition);
  }

  /** Invocations per second over the last `RATE_WINDOW_S` whole seconds. */
  invocationsPerSecond() {
    this.#advance();
    return this.#perSecond.reduce((a, b) => a + b, 0) / RATE_WINDOW_S;
  }

  /** Moves the per-second counts to this second, zeroing the seconds that passed. */
  #advance() {
    const second = Math.floor(this.#host.now() / 1000);
    const passed = Math.min(RATE_WINDOW_S, second - this.#second);
    for (let s = 1; s <= passed; s++) this.#perSecond[(this.#second + s) % RATE_WINDOW_S] = 0;
    if (passed > 0) this.#second = second;
  }

  /**
   * The share's records are done (delivered, or given up on): records too large for any event
   * go to the destination, the partition is committed past the share, and it goes on.
   * @param {Share} share
   * @param {EventProgress} progress
   */
  async #finish(share, progress) {
    const { mapping, log } = this.#host;
    for (const record of share.oversized) {
      log.error(
        `${recordsLabel(mapping, [record])}: record at offset ${record.offset} makes the event larger than 6 MB; Lambda never delivers such a record${mapping.errorHandling.onFailure ? ': it goes to the on-failure destination (MaximumPayloadSizeExceeded)' : ', so it is skipped'}`,
      );
      await this.#giveUp([record], {
        condition: 'MaximumPayloadSizeExceeded',
        invokeCount: 0,
        error: undefined,
      });
    }
    for (const { record, rejection } of share.rejected) {
      // services-consume-kafka-events: to the destination with the reason code, or dropped.
      log.error(`${recordsLabel(mapping, [record])}: ${rejection.condition}: ${rejection.error}`);
      await this.#giveUp([record], {
        condition: rejection.condition,
        invokeCount: 0,
        error: undefined,
      });
    }
    share.committer.commit(share.lastOffset + 1n);
    progress.held.delete(share);
    share.queue.batchEnded(share.taken, true);
  }

  /**
   * Finishes, now, the shares of partitions that have no record left to retry (after a partial
   * batch response or a bisected half), so that they are not held up by the others' retries.
   * @param {EventProgress} progress
   * @param {readonly LambdaKafkaRecord[]} pending
   */
  async #finishSettled(progress, pending) {
    const waiting = new Set([...pending, ...progress.later].map((r) => r.partition));
    let finished = false;
    for (const share of [...progress.held]) {
      if (waiting.has(share.queue.partition)) continue;
      await this.#finish(share, progress);
      finished = true;
    }
    if (finished) this.#host.freed();
  }

  /**
   * Delivers `records` until they succeed, or are given up on (provisioned mode). Resolves false
   * when stopped first (nothing more is committed; the records will come again).
   * @param {LambdaKafkaRecord[]} records
   * @param {number} attempts invocations already made for these records
   * @param {EventProgress} progress
   * @returns {Promise<boolean>}
   */
  async #deliver(records, attempts, progress) {
    const policy = this.#host.mapping.errorHandling;
    let pending = records;
    let attempt = attempts;
    for (;;) {
      if (this.#stopping.signal.aborted && attempt > attempts) return false;
      pending = await this.#dropExpired(pending, attempt);
      if (pending.length === 0) return true;
      const outcome = await this.#invokeOnce(pending, attempt + 1);
      progress.attempts += 1;
      if (outcome.kind === 'ok') return true;
      attempt += 1;
      const error = outcome.kind === 'failed' ? outcome.error : undefined;
      progress.lastError =
        outcome.kind === 'failed'
          ? outcome.error
          : `partial batch response: ${outcome.failed.length} record(s) failed`;
      if (outcome.kind === 'partial') {
        // Only the failed records are retried (kafka-retry-configurations); what succeeded
        // before each partition's lowest failed offset is committed now.
        commitBefore(progress, pending, [...outcome.failed, ...progress.later]);
        pending = outcome.failed;
        await this.#finishSettled(progress, pending);
      }
      if (policy.maxRetries >= 0 && attempt > policy.maxRetries) {
        await this.#giveUp(pending, { condition: 'RetriesExhausted', invokeCount: attempt, error });
        return true;
      }
      if (policy.bisect && outcome.kind === 'failed' && pending.length > 1) {
        const half = Math.ceil(pending.length / 2);
        const first = pending.slice(0, half);
        const second = pending.slice(half);
        const outer = progress.later;
        progress.later = [...second, ...outer];
        const firstDone = await this.#deliver(first, attempt, progress);
        progress.later = outer;
        if (!firstDone) return false;
        commitBefore(progress, pending, [...second, ...outer]);
        await this.#finishSettled(progress, second);
        return this.#deliver(second, attempt, progress);
      }
      const delay = this.#host.retryDelayMs(attempt);
      this.#host.log.warning(
        `${recordsLabel(this.#host.mapping, pending)}: retrying ${pending.length} record${pending.length === 1 ? '' : 's'} in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1})`,
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
    const oldest = this.#host.now() - maxAge;
    const expired = records.filter((r) => r.timestamp < oldest);
    if (expired.length === 0) return records;
    await this.#giveUp(expired, {
      condition: 'RecordAgeExceeded',
      invokeCount: attempts,
      error: undefined,
    });
    return records.filter((r) => r.timestamp >= oldest);
  }

  /**
   * @param {LambdaKafkaRecord[]} records
   * @param {number} attempt
   * @returns {Promise<Outcome>}
   */
  async #invokeOnce(records, attempt) {
    const { mapping, bootstrapServers, log, now } = this.#host;
    const event = buildEvent(mapping.source, bootstrapServers, records);
    const started = now();
    /** @type {Outcome} */
    let outcome;
    this.metrics.events += 1;
    if (attempt > 1) this.metrics.retries += 1;
    this.#advance();
    this.#perSecond[this.#second % RATE_WINDOW_S] += 1;
    try {
      const result = await this.#host.invoke(event);
      outcome = mapping.errorHandling.reportBatchItemFailures
        ? partialOutcome(result, records)
        : { kind: 'ok' };
    } catch (error) {
      outcome = { kind: 'failed', error: describe(error) };
    }
    if (outcome.kind !== 'ok') {
      this.metrics.errors += 1;
      this.metrics.lastError = {
        message:
          outcome.kind === 'failed'
            ? outcome.error
            : `partial batch response: ${outcome.failed.length} record(s) failed`,
        at: now(),
      };
    } else this.metrics.records += records.length;
    const ms = now() - started;
    const head = `${recordsLabel(mapping, records)} ${records.length} record${records.length === 1 ? '' : 's'} ${ms} ms`;
    const tries = attempt > 1 ? ` (attempt ${attempt})` : '';
    if (outcome.kind === 'ok') log.notice(`${head} ok${tries}`);
    else if (outcome.kind === 'partial')
      log.warning(
        `${head} partial failure${tries}: ${outcome.failed.length} failed, ${offsetRanges(mapping.topic, outcome.failed)}`,
      );
    else log.warning(`${head} failed${tries}: ${outcome.error}`);
    return outcome;
  }

  /**
   * Lambda gives `records` up: they go to the on-failure destination (which may only log them).
   * @param {LambdaKafkaRecord[]} records
   * @param {Failure} failure
   */
  async #giveUp(records, failure) {
    await this.#host.destination.send(records, failure, this.#stopping.signal);
    // Without a destination, Lambda discards them.
    if (this.#host.mapping.errorHandling.onFailure)
      this.metrics.sentToDestination += records.length;
  }

  /** @param {number} ms @returns {Promise<boolean>} false when stopped meanwhile */
  async #sleepFor(ms) {
    const { signal } = this.#stopping;
    if (signal.aborted) return false;
    await sleep(ms, undefined, { signal }).catch(() => undefined);
    return !signal.aborted;
  }
}

/**
 * Commits, for each partition of `records`, up to its first record in `remaining` (or past its
 * last record when none remains): what comes before has been processed.
 * @param {EventProgress} progress
 * @param {readonly LambdaKafkaRecord[]} records
 * @param {readonly LambdaKafkaRecord[]} remaining
 */
const commitBefore = (progress, records, remaining) => {
  /** @type {Map<number, bigint>} */
  const upTo = new Map();
  for (const r of records) {
    const next = BigInt(r.offset) + 1n;
    if ((upTo.get(r.partition) ?? -1n) < next) upTo.set(r.partition, next);
  }
  /** @type {Map<number, bigint>} */
  const lowest = new Map();
  for (const r of remaining) {
    const o = BigInt(r.offset);
    if ((lowest.get(r.partition) ?? o + 1n) > o) lowest.set(r.partition, o);
  }
  for (const [partition, end] of upTo) {
    progress.shares.get(partition)?.committer.commit(lowest.get(partition) ?? end);
  }
};

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
  /** @type {Map<string, LambdaKafkaRecord>} */
  const known = new Map(records.map((r) => [`${r.topic}-${r.partition}#${r.offset}`, r]));
  /** @type {Set<LambdaKafkaRecord>} */
  const failed = new Set();
  for (const failure of failures) {
    const id = failure?.itemIdentifier;
    const record = known.get(`${id?.partition}#${Number(id?.offset)}`);
    if (!record) {
      return {
        kind: 'failed',
        error: `partial batch response names a record not in the batch: ${JSON.stringify(id ?? null)}`,
      };
    }
    failed.add(record);
  }
  return { kind: 'partial', failed: records.filter((r) => failed.has(r)) };
};

module.exports = { Delivery, partialOutcome };
