// @ts-check
'use strict';

const {
  MAX_EVENT_BYTES,
  buildEvent,
  groupKeyBytes,
  recordBytes,
  toLambdaRecord,
} = require('./event');
const { takeFrom } = require('./batcher');

/**
 * One event poller of one mapping: queues the records fetched for the partitions it owns,
 * assembles events across those partitions by Lambda's rules, invokes the function, and commits
 * only what succeeded.
 *
 * As AWS (with-msk-process: "A single Lambda payload can contain messages from multiple
 * partitions"; kafka-scaling-modes: a poller runs several invocations at once, and ordering is
 * kept per partition):
 * - an event takes the records ready in the partitions that have no batch in flight, oldest
 *   partition first, each partition's records in offset order; BatchSize and the 6 MB payload
 *   limit count over the whole event;
 * - at most one batch per partition is in flight, so events in flight hold disjoint partitions
 *   and run concurrently (at most one invocation per partition);
 * - the batching window is timed from the first waiting record (or from the end of the
 *   partition's previous invocation, if records waited meanwhile);
 * - a failed event is retried whole with backoff, blocking its partitions only; offsets are
 *   committed per partition after success, never backwards;
 * - once a partial batch response (or a bisected half) leaves a partition with nothing to retry,
 *   that partition is committed and goes on at once: only partitions with records still being
 *   retried wait;
 * - a partition revoked while its batch is in flight, then assigned back, takes no new batch
 *   until that one has ended, so that one batch per partition holds across rebalances.
 */

/**
 * @typedef {import('./batcher').QueuedRecord} QueuedRecord
 * @typedef {import('./event').LambdaKafkaRecord} LambdaKafkaRecord
 * @typedef {import('./event').LambdaKafkaEvent} LambdaKafkaEvent
 * @typedef {import('./event').KafkaMessageLike} KafkaMessageLike
 * @typedef {import('./definition').Mapping} Mapping
 * @typedef {'RetriesExhausted' | 'RecordAgeExceeded' | 'MaximumPayloadSizeExceeded'} FailureCondition
 * @typedef {{ notice(m: string): void, warning(m: string): void, error(m: string): void, debug(m: string): void }} Log
 * @typedef {{
 *   mapping: Mapping,
 *   bootstrapServers: readonly string[],
 *   envelopeBytes: number,
 *   invoke: (event: LambdaKafkaEvent) => Promise<unknown>,
 *   commit: (partition: number, offset: bigint) => Promise<void>,
 *   pause: (partition: number) => void,
 *   resume: (partition: number) => void,
 *   giveUp: (records: LambdaKafkaRecord[], condition: FailureCondition, invokeCount: number, error: string | undefined) => Promise<void>,
 *   retryDelayMs: (attempt: number) => number,
 *   log: Log,
 *   now?: () => number,
 * }} WorkerHost `envelopeBytes`: the event's bytes without records or group keys.
 * @typedef {{ kind: 'ok' } | { kind: 'partial', failed: LambdaKafkaRecord[] } | { kind: 'failed', error: string }} Outcome
 * @typedef {{
 *   partition: number,
 *   queue: QueuedRecord[],
 *   head: number,
 *   queueBytes: number,
 *   lastEnqueued: bigint,
 *   previousEnd: number,
 *   busy: boolean,
 *   freed: Promise<void>,
 *   free: () => void,
 *   paused: boolean,
 *   revoked: boolean,
 *   committing: Promise<void>,
 *   nextCommit: bigint | undefined,
 *   requested: bigint,
 *   commitInFlight: boolean,
 *   committed: bigint,
 *   highWatermark: bigint,
 * }} PartitionState `queue` from index `head` on is waiting; `freed` settles when the batch in
 *   flight (if `busy`) ends; `requested` is the highest offset asked to be committed.
 * @typedef {{ state: PartitionState, taken: number, records: LambdaKafkaRecord[], oversized: LambdaKafkaRecord[], lastOffset: bigint }} Share
 * @typedef {{ held: Set<Share>, later: readonly LambdaKafkaRecord[] }} EventProgress The shares
 *   an event still holds, and the records that outer bisection steps have yet to deliver.
 */

/**
 * `topic-0 [3..7] topic-2 [9]`: each partition's lowest and highest offset among `records`.
 * @param {string} topic
 * @param {readonly LambdaKafkaRecord[]} records
 */
const offsetRanges = (topic, records) => {
  /** @type {Map<number, { first: number, last: number }>} */
  const byPartition = new Map();
  for (const r of records) {
    const range = byPartition.get(r.partition);
    if (!range) byPartition.set(r.partition, { first: r.offset, last: r.offset });
    else {
      range.first = Math.min(range.first, r.offset);
      range.last = Math.max(range.last, r.offset);
    }
  }
  return [...byPartition]
    .map(
      ([p, { first, last }]) =>
        `${topic}-${p} ${first === last ? `[${first}]` : `[${first}..${last}]`}`,
    )
    .join(' ');
};

/** Stop fetching a partition while this many records wait, resume below half of it. */
const QUEUE_HIGH_WATER_RECORDS = 20_000;
const QUEUE_HIGH_WATER_BYTES = 4 * MAX_EVENT_BYTES;

class Poller {
  /** @type {Map<number, PartitionState>} */
  #partitions = new Map();
  /** @type {Set<Promise<void>>} */
  #inFlight = new Set();
  /** Revoked partitions whose batch is still in flight: when it ends. */
  /** @type {Map<number, Promise<void>>} */
  #draining = new Map();
  #stopped = false;
  /** @type {NodeJS.Timeout | undefined} */
  #timer;
  #timerAt = Number.POSITIVE_INFINITY;
  #dispatchQueued = false;
  /** @type {Set<() => void>} Wakes each retry sleep in progress (`stop`). */
  #sleepers = new Set();
  /** @type {WorkerHost} */
  #host;
  /** @type {() => number} */
  #now;
  #groupKeyBytes;
  /** Invocations and failed invocations since start (MetricsConfig EventCount, ErrorCount). */
  metrics = { events: 0, errors: 0, records: 0 };

  /** @param {WorkerHost} host */
  constructor(host) {
    this.#host = host;
    this.#now = host.now ?? Date.now;
    this.#groupKeyBytes = groupKeyBytes(host.mapping.topic);
  }

  /**
   * Queues fetched records of `partition`, skipping any at or below the last queued offset (after
   * a rebalance kafkajs may fetch again from the last commit).
   * @param {number} partition
   * @param {readonly KafkaMessageLike[]} messages
   * @param {string} [highWatermark] the partition's end offset, for the offset lag
   */
  enqueue(partition, messages, highWatermark) {
    if (this.#stopped) return;
    const state = this.#state(partition);
    if (state.revoked) return;
    if (highWatermark !== undefined) state.highWatermark = BigInt(highWatermark);
    const { mapping } = this.#host;
    const arrivedAt = this.#now();
    for (const message of messages) {
      const offset = BigInt(message.offset);
      if (offset <= state.lastEnqueued) continue;
      state.lastEnqueued = offset;
      const record = toLambdaRecord(mapping.topic, partition, message);
      const bytes = recordBytes(record);
      state.queue.push({ record, offset, bytes, deliver: mapping.filter(record), arrivedAt });
      state.queueBytes += bytes;
    }
    if (
      !state.paused &&
      (state.queue.length - state.head >= QUEUE_HIGH_WATER_RECORDS ||
        state.queueBytes >= QUEUE_HIGH_WATER_BYTES)
    ) {
      state.paused = true;
      this.#host.pause(partition);
    }
    this.#schedule();
  }

  /**
   * The partition now belongs to another poller: drop its queue and never commit it again (a
   * batch in flight that holds it finishes for its other partitions). Assigned back before that
   * batch ends, the partition waits for it.
   * @param {number} partition
   */
  revoke(partition) {
    const state = this.#partitions.get(partition);
    if (!state) return;
    state.revoked = true;
    if (state.busy) this.#draining.set(partition, state.freed);
    state.queue = [];
    state.head = 0;
    state.queueBytes = 0;
    // kafkajs keeps a partition paused across rebalances: were it assigned back, it would never
    // be fetched again.
    if (state.paused) {
      state.paused = false;
      this.#host.resume(partition);
    }
    this.#partitions.delete(partition);
  }

  /** Takes no new event; events in flight finish (or end at their next retry) and commit. */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const wake of [...this.#sleepers]) wake();
  }

  /** Settles once stopped and every event in flight and every commit has settled. */
  get done() {
    return (async () => {
      while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
      await Promise.all([...this.#partitions.values()].map((s) => s.committing));
    })();
  }

  /** Offset lag per owned partition: the partition's end offset minus the committed offset. */
  lag() {
    return [...this.#partitions.values()]
      .sort((a, b) => a.partition - b.partition)
      .map((s) => {
        const committed =
          s.committed >= 0n ? s.committed : (s.queue[s.head]?.offset ?? s.highWatermark);
        const lag = s.highWatermark - committed;
        return { partition: s.partition, lag: lag > 0n ? Number(lag) : 0 };
      });
  }

  /** @param {number} partition */
  #state(partition) {
    let state = this.#partitions.get(partition);
    if (!state) {
      state = {
        partition,
        queue: [],
        head: 0,
        queueBytes: 0,
        lastEnqueued: -1n,
        previousEnd: 0,
        busy: false,
        freed: Promise.resolve(),
        free: () => undefined,
        paused: false,
        revoked: false,
        committing: Promise.resolve(),
        nextCommit: undefined,
        requested: -1n,
        commitInFlight: false,
        committed: -1n,
        highWatermark: 0n,
      };
      this.#partitions.set(partition, state);
      const draining = this.#draining.get(partition);
      if (draining) {
        // Its previous owner's batch is still in flight: no second batch for this partition.
        const fresh = state;
        this.#hold(fresh);
        void draining.then(() => {
          if (this.#draining.get(partition) === draining) this.#draining.delete(partition);
          fresh.free();
          this.#schedule();
        });
      }
    }
    return state;
  }

  /** Marks the partition as having a batch in flight, until `state.free()`. @param {PartitionState} state */
  #hold(state) {
    state.busy = true;
    state.freed = new Promise((resolve) => {
      state.free = () => {
        state.busy = false;
        state.free = () => undefined;
        resolve();
      };
    });
  }

  /** Dispatches once the records enqueued in this turn of the event loop are all queued. */
  #schedule() {
    if (this.#dispatchQueued) return;
    this.#dispatchQueued = true;
    queueMicrotask(() => {
      this.#dispatchQueued = false;
      this.#dispatch();
    });
  }

  /** Starts every event that is ready now; sets a timer for the next batching window. */
  #dispatch() {
    const { mapping } = this.#host;
    while (!this.#stopped) {
      /** @type {PartitionState[]} */
      const idle = [];
      for (const s of this.#partitions.values())
        if (!s.busy && s.head < s.queue.length) idle.push(s);
      if (idle.length === 0) return;
      let closesAt = Number.POSITIVE_INFINITY;
      let count = 0;
      let bytes = this.#host.envelopeBytes;
      let full = false;
      for (const s of idle) {
        const first = /** @type {QueuedRecord} */ (s.queue[s.head]);
        closesAt = Math.min(closesAt, Math.max(first.arrivedAt, s.previousEnd) + mapping.windowMs);
        if (full) continue;
        bytes += this.#groupKeyBytes;
        for (let i = s.head; i < s.queue.length; i++) {
          const entry = /** @type {QueuedRecord} */ (s.queue[i]);
          if (!entry.deliver) continue;
          count += 1;
          bytes += entry.bytes;
          if (count >= mapping.batchSize || bytes > MAX_EVENT_BYTES) {
            full = true;
            break;
          }
        }
      }
      const now = this.#now();
      if (!full && now < closesAt) {
        this.#wakeAt(closesAt);
        return;
      }
      this.#startEvent(idle);
    }
  }

  /** @param {number} time */
  #wakeAt(time) {
    if (this.#timer && this.#timerAt <= time) return;
    clearTimeout(this.#timer);
    this.#timerAt = time;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#dispatch();
      },
      Math.max(0, time - this.#now()),
    );
  }

  /**
   * Takes one event from the idle partitions (the oldest waiting first) and runs it.
   * @param {PartitionState[]} idle
   */
  #startEvent(idle) {
    const { mapping } = this.#host;
    idle.sort(
      (a, b) =>
        /** @type {QueuedRecord} */ (a.queue[a.head]).arrivedAt -
        /** @type {QueuedRecord} */ (b.queue[b.head]).arrivedAt,
    );
    /** @type {Share[]} */
    const shares = [];
    let recordsLeft = mapping.batchSize;
    let bytesLeft = MAX_EVENT_BYTES - this.#host.envelopeBytes;
    for (const state of idle) {
      if (recordsLeft <= 0 || bytesLeft <= this.#groupKeyBytes) break;
      const share = takeFrom(state.queue, state.head, {
        maxRecords: recordsLeft,
        bytesLeft: bytesLeft - this.#groupKeyBytes,
        aloneLimit: MAX_EVENT_BYTES - this.#host.envelopeBytes - this.#groupKeyBytes,
      });
      if (share.taken === 0) continue;
      this.#hold(state);
      if (share.records.length > 0) {
        recordsLeft -= share.records.length;
        bytesLeft -= share.bytes + this.#groupKeyBytes;
      }
      shares.push({ state, ...share });
    }
    if (shares.length === 0) {
      // Only possible when nothing fits at all; never leave the partitions waiting forever.
      const state = /** @type {PartitionState} */ (idle[0]);
      this.#hold(state);
      shares.push({
        state,
        ...takeFrom(state.queue, state.head, {
          maxRecords: 1,
          bytesLeft: MAX_EVENT_BYTES,
          aloneLimit: MAX_EVENT_BYTES,
        }),
      });
    }
    const run = this.#run(shares).finally(() => {
      this.#inFlight.delete(run);
    });
    this.#inFlight.add(run);
  }

  /** @param {Share[]} shares */
  async #run(shares) {
    /** @type {EventProgress} */
    const progress = { held: new Set(shares), later: [] };
    let consumed = false;
    try {
      const records = shares.flatMap((s) => s.records);
      consumed = records.length === 0 || (await this.#deliver(records, 0, progress));
      if (consumed) for (const share of [...progress.held]) await this.#finish(share, progress);
    } catch (error) {
      // Only a destination that cannot be written while stopping gets here.
      consumed = false;
      this.#host.log.error(`${this.#label(shares.flatMap((s) => s.records))}: ${describe(error)}`);
    } finally {
      for (const share of progress.held) this.#free(share, consumed);
      this.#schedule();
    }
  }

  /**
   * The share's records are done (delivered, or given up on): records too large for any event
   * go to the destination, the partition is committed past the share, and it goes on.
   * @param {Share} share
   * @param {EventProgress} progress
   */
  async #finish(share, progress) {
    for (const record of share.oversized) {
      this.#host.log.error(
        `${this.#label([record])}: record at offset ${record.offset} makes the event larger than 6 MB; Lambda never delivers such a record${this.#host.mapping.errorHandling.onFailure ? ': it goes to the on-failure destination (MaximumPayloadSizeExceeded)' : ', so it is skipped'}`,
      );
      await this.#host.giveUp([record], 'MaximumPayloadSizeExceeded', 0, undefined);
    }
    this.#commit(share.state, share.lastOffset + 1n);
    progress.held.delete(share);
    this.#free(share, true);
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
      if (waiting.has(share.state.partition)) continue;
      await this.#finish(share, progress);
      finished = true;
    }
    if (finished) this.#schedule();
  }

  /**
   * The partition's batch has ended: its taken records leave the queue when `consumed` (else
   * they stay, to be taken again), and the partition takes its next batch.
   * @param {Share} share
   * @param {boolean} consumed
   */
  #free({ state, taken }, consumed) {
    state.free();
    if (state.revoked) return;
    state.previousEnd = this.#now();
    if (!consumed) return;
    for (let i = state.head; i < state.head + taken; i++)
      state.queueBytes -= /** @type {QueuedRecord} */ (state.queue[i]).bytes;
    state.head += taken;
    // Drop consumed entries now and then rather than shifting the array every time.
    if (state.head > 1024 && state.head * 2 > state.queue.length) {
      state.queue = state.queue.slice(state.head);
      state.head = 0;
    }
    if (
      state.paused &&
      state.queue.length - state.head < QUEUE_HIGH_WATER_RECORDS / 2 &&
      state.queueBytes < QUEUE_HIGH_WATER_BYTES / 2
    ) {
      state.paused = false;
      this.#host.resume(state.partition);
    }
  }

  /**
   * Delivers `records` until they succeed, or are given up on (provisioned mode). Resolves false
   * when the poller stopped first (nothing more is committed; the records will come again).
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
      if (this.#stopped && attempt > attempts) return false;
      pending = await this.#dropExpired(pending, attempt);
      if (pending.length === 0) return true;
      const outcome = await this.#invokeOnce(pending, attempt + 1);
      if (outcome.kind === 'ok') return true;
      attempt += 1;
      const error = outcome.kind === 'failed' ? outcome.error : undefined;
      if (outcome.kind === 'partial') {
        // Only the failed records are retried (kafka-retry-configurations); what succeeded
        // before each partition's lowest failed offset is committed now.
        this.#commitBefore(pending, [...outcome.failed, ...progress.later]);
        pending = outcome.failed;
        await this.#finishSettled(progress, pending);
      }
      if (policy.maxRetries >= 0 && attempt > policy.maxRetries) {
        await this.#host.giveUp(pending, 'RetriesExhausted', attempt, error);
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
        this.#commitBefore(pending, [...second, ...outer]);
        await this.#finishSettled(progress, second);
        return this.#deliver(second, attempt, progress);
      }
      const delay = this.#host.retryDelayMs(attempt);
      this.#host.log.warning(
        `${this.#label(pending)}: retrying ${pending.length} record${pending.length === 1 ? '' : 's'} in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1})`,
      );
      if (!(await this.#sleepFor(delay))) return false;
    }
  }

  /**
   * Commits, for each partition of `records`, up to its first record in `remaining` (or past its
   * last record when none remains): what comes before has been processed.
   * @param {readonly LambdaKafkaRecord[]} records
   * @param {readonly LambdaKafkaRecord[]} remaining
   */
  #commitBefore(records, remaining) {
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
      const state = this.#partitions.get(partition);
      if (state) this.#commit(state, lowest.get(partition) ?? end);
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
    this.metrics.events += 1;
    try {
      const result = await this.#host.invoke(event);
      outcome = mapping.errorHandling.reportBatchItemFailures
        ? partialOutcome(result, records)
        : { kind: 'ok' };
    } catch (error) {
      outcome = { kind: 'failed', error: describe(error) };
    }
    if (outcome.kind !== 'ok') this.metrics.errors += 1;
    else this.metrics.records += records.length;
    const ms = this.#now() - started;
    const head = `${this.#label(records)} ${records.length} record${records.length === 1 ? '' : 's'} ${ms} ms`;
    const tries = attempt > 1 ? ` (attempt ${attempt})` : '';
    if (outcome.kind === 'ok') log.notice(`${head} ok${tries}`);
    else if (outcome.kind === 'partial')
      log.warning(
        `${head} partial failure${tries}: ${outcome.failed.length} failed, ${offsetRanges(this.#host.mapping.topic, outcome.failed)}`,
      );
    else log.warning(`${head} failed${tries}: ${outcome.error}`);
    return outcome;
  }

  /**
   * Commits `offset` (the next offset to read) after what was committed before, in order, and
   * never below an offset already committed. One commit is in flight per partition; offsets that
   * arrive meanwhile are folded into the next, so a partition never queues commits faster than
   * the broker answers them.
   * @param {PartitionState} state
   * @param {bigint} offset
   */
  #commit(state, offset) {
    if (state.revoked || offset <= state.requested) return;
    state.requested = offset;
    state.nextCommit = offset;
    if (!state.commitInFlight) {
      state.commitInFlight = true;
      state.committing = this.#sendCommits(state);
    }
  }

  /** @param {PartitionState} state */
  async #sendCommits(state) {
    try {
      for (let offset = state.nextCommit; offset !== undefined; offset = state.nextCommit) {
        state.nextCommit = undefined;
        if (state.revoked) return;
        try {
          await this.#host.commit(state.partition, offset);
          if (offset > state.committed) state.committed = offset;
        } catch (error) {
          this.#host.log.warning(
            `Kafka ${this.#host.mapping.functionKey} ${this.#host.mapping.topic}-${state.partition}: could not commit offset ${offset} (records after the last commit will be delivered again): ${describe(error)}`,
          );
        }
      }
    } finally {
      state.commitInFlight = false;
    }
  }

  /** @param {number} ms @returns {Promise<boolean>} false when stopped meanwhile */
  async #sleepFor(ms) {
    if (this.#stopped) return false;
    await new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve(undefined);
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
    return !this.#stopped;
  }

  /** `Kafka fn topic-0 [3..7] topic-2 [9]`: the function and each partition's offsets. */
  /** @param {readonly LambdaKafkaRecord[]} records */
  #label(records) {
    const { mapping } = this.#host;
    return `Kafka ${mapping.functionKey} ${offsetRanges(mapping.topic, records) || mapping.topic}`;
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

/** @param {unknown} error */
const describe = (error) => {
  if (error instanceof Error)
    return `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`;
  return String(error);
};

module.exports = { Poller, describe, offsetRanges, partialOutcome };
