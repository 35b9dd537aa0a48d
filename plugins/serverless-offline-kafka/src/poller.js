// @ts-check
'use strict';

const { MAX_EVENT_BYTES, groupKeyBytes, toLambdaRecord } = require('./event');
const { Committer } = require('./committer');
const { Delivery } = require('./delivery');
const { PartitionQueue } = require('./partition-queue');
const { describe } = require('./util');

/**
 * One event poller of one mapping: it owns partitions (each a `PartitionQueue` and a
 * `Committer`), admits the records fetched for them, and schedules events across them by
 * Lambda's rules; `Delivery` runs each event.
 *
 * As AWS (with-msk-process: "A single Lambda payload can contain messages from multiple
 * partitions"; kafka-scaling-modes: a poller runs several invocations at once, and ordering is
 * kept per partition):
 * - an event takes the records ready in the partitions that have no batch in flight, oldest
 *   partition first, each partition's records in offset order; BatchSize and the 6 MB payload
 *   limit count over the whole event;
 * - at most one batch per partition is in flight, so events in flight hold disjoint partitions
 *   and run concurrently (at most one invocation per partition);
 * - an event starts once it is full or the earliest batching window among its partitions closes;
 * - offsets are committed per partition after success, never backwards;
 * - a partition revoked while its batch is in flight, then assigned back, takes no new batch
 *   until that one has ended, so that one batch per partition holds across rebalances.
 *
 * @typedef {import('./event').LambdaKafkaEvent} LambdaKafkaEvent
 * @typedef {import('./event').KafkaMessageLike} KafkaMessageLike
 * @typedef {import('./definition').Mapping} Mapping
 * @typedef {import('./util').Log} Log
 * @typedef {import('./delivery').Destination} Destination
 * @typedef {import('./delivery').Share} Share
 * @typedef {{
 *   mapping: Mapping,
 *   bootstrapServers: readonly string[],
 *   envelopeBytes: number,
 *   invoke: (event: LambdaKafkaEvent) => Promise<unknown>,
 *   commit: (partition: number, offset: bigint) => Promise<void>,
 *   pause: (partition: number, reason?: string) => void,
 *   resume: (partition: number, reason?: string) => void,
 *   destination: Destination,
 *   deserializer?: Deserializer,
 *   retryDelayMs: (attempt: number) => number,
 *   log: Log,
 *   now?: () => number,
 * }} PollerHost `envelopeBytes`: the event's bytes without records or group keys; `destination`:
 *   the mapping's on-failure destination, where records Lambda gives up on go; `deserializer`:
 *   the mapping's schema registry step, if it has one; `pause`/`resume` with a reason
 *   ('backlog' by default, 'registry' while the registry does not answer).
 * @typedef {InstanceType<typeof import('./registry/deserializer').Deserializer>} Deserializer
 * @typedef {{
 *   partitions: {
 *     partition: number,
 *     highWatermark: number,
 *     committed: number | null,
 *     lag: number,
 *     waiting: number,
 *     inFlight: import('./delivery').InFlightBatch | null,
 *   }[],
 *   invocations: number,
 *   errors: number,
 *   recordsDelivered: number,
 *   retries: number,
 *   recordsFilteredOut: number,
 *   recordsSentToDestination: number,
 *   invocationsPerSecond: number,
 *   lastError: { message: string, at: number } | null,
 * }} PollerSnapshot One poller's state (README, "State"); offsets as numbers.
 * @typedef {{
 *   queue: InstanceType<typeof PartitionQueue>,
 *   committer: InstanceType<typeof Committer>,
 *   admitted: Promise<void>,
 *   owned: AbortController,
 * }} OwnedPartition `admitted`: with a schema registry, settles once the records fetched so far
 *   are queued (in fetch order); `owned` aborts when the partition is revoked or the poller stops.
 */

/**
 * `LATENCY_TRACE=true` in the environment of `sls offline start`: one stderr line per fetch,
 * `latency-trace {"fn":"fetch:<functionKey>","marks":{"fetched":<ms>},"keys":["<partition>:<offset>",...]}`,
 * for the latency budget of the project that hosts this plugin (its bench/latency-budget.ts).
 */
const TRACE = process.env.LATENCY_TRACE === 'true';

/**
 * @param {string} functionKey
 * @param {number} partition
 * @param {readonly KafkaMessageLike[]} messages
 */
const traceFetch = (functionKey, partition, messages) => {
  const fetched = performance.timeOrigin + performance.now();
  const keys = messages.map((m) => `${partition}:${m.offset}`);
  process.stderr.write(
    `latency-trace ${JSON.stringify({ fn: `fetch:${functionKey}`, marks: { fetched }, keys })}\n`,
  );
};

class Poller {
  /** @type {Map<number, OwnedPartition>} */
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
  /** @type {PollerHost} */
  #host;
  /** @type {() => number} */
  #now;
  #groupKeyBytes;
  /** @type {InstanceType<typeof Delivery>} */
  #delivery;

  /** @param {PollerHost} host */
  constructor(host) {
    this.#host = host;
    this.#now = host.now ?? Date.now;
    this.#groupKeyBytes = groupKeyBytes(host.mapping.topic);
    this.#delivery = new Delivery({
      mapping: host.mapping,
      bootstrapServers: host.bootstrapServers,
      invoke: host.invoke,
      destination: host.destination,
      retryDelayMs: host.retryDelayMs,
      log: host.log,
      now: this.#now,
      freed: () => this.#schedule(),
    });
  }

  /** Records no filter matched (committed, never delivered) since start. */
  #filtered = 0;

  /** Invocations and failed invocations since start (MetricsConfig EventCount, ErrorCount). */
  get metrics() {
    return this.#delivery.metrics;
  }

  /**
   * What this poller holds now, as plain data: each owned partition (its end offset as last
   * fetched, committed offset, lag, records waiting, batch in flight) and its counters.
   * @returns {PollerSnapshot}
   */
  snapshot() {
    const inFlight = new Map(this.#delivery.inFlight().map((b) => [b.partition, b]));
    const { events, errors, records, retries, sentToDestination, lastError } = this.metrics;
    return {
      partitions: [...this.#partitions.values()]
        .sort((a, b) => a.queue.partition - b.queue.partition)
        .map(({ queue, committer }) => ({
          partition: queue.partition,
          highWatermark: Number(queue.highWatermark),
          committed: committer.committed >= 0n ? Number(committer.committed) : null,
          lag: this.#lagOf(queue, committer),
          waiting: queue.waiting,
          inFlight: inFlight.get(queue.partition) ?? null,
        })),
      invocations: events,
      errors,
      recordsDelivered: records,
      retries,
      recordsFilteredOut: this.#filtered,
      recordsSentToDestination: sentToDestination,
      invocationsPerSecond: this.#delivery.invocationsPerSecond(),
      lastError,
    };
  }

  /**
   * Queues fetched records of `partition`.
   * @param {number} partition
   * @param {readonly KafkaMessageLike[]} messages
   * @param {string} [highWatermark] the partition's end offset, for the offset lag
   * @param {bigint} [through] the last offset the fetch read, when records Lambda never sees
   *   (transaction markers, aborted records) follow the last message: committed past
   */
  enqueue(partition, messages, highWatermark, through) {
    if (this.#stopped) return;
    if (TRACE) traceFetch(this.#host.mapping.functionKey, partition, messages);
    const owned = this.#partition(partition);
    const { deserializer } = this.#host;
    if (!deserializer) {
      this.#queue(owned, messages, highWatermark, through);
      return;
    }
    // The schemas these records name are fetched first (once each); meanwhile this partition's
    // later fetches wait behind them, in order, and its fetching is paused while the registry
    // does not answer. Other partitions go on.
    owned.admitted = owned.admitted
      .then(async () => {
        const ready = await deserializer.prepare(messages, this.#registryWait(partition, owned));
        if (ready && !this.#stopped && this.#partitions.get(partition) === owned)
          this.#queue(owned, messages, highWatermark, through);
      })
      .catch((error) => {
        this.#host.log.error(
          `Kafka ${this.#host.mapping.functionKey} ${this.#host.mapping.topic}-${partition}: ${describe(error)}`,
        );
      });
  }

  /**
   * @param {OwnedPartition} owned
   * @param {readonly KafkaMessageLike[]} messages
   * @param {string} [highWatermark]
   * @param {bigint} [through]
   */
  #queue(owned, messages, highWatermark, through) {
    const { partition } = owned.queue;
    owned.queue.enqueue(
      messages,
      highWatermark,
      (message) => this.#admit(partition, message),
      through,
    );
    this.#schedule();
  }

  /**
   * How a partition waits for a registry that does not answer: a log line per try, its fetching
   * paused until the registry answers.
   * @param {number} partition
   * @param {OwnedPartition} owned
   * @returns {import('./registry/deserializer').PrepareOptions}
   */
  #registryWait(partition, owned) {
    const { mapping, log, pause, resume, retryDelayMs } = this.#host;
    let paused = false;
    return {
      signal: owned.owned.signal,
      retryDelayMs,
      waiting: (error, attempt, delayMs) => {
        if (!paused) pause(partition, 'registry');
        paused = true;
        log.error(
          `Kafka ${mapping.functionKey} ${mapping.topic}-${partition}: schema registry unavailable: ${error.message}; asking again in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1}); this partition's records wait, none is skipped`,
        );
      },
      resumed: () => {
        if (paused) resume(partition, 'registry');
        paused = false;
        log.notice(
          `Kafka ${mapping.functionKey} ${mapping.topic}-${partition}: schema registry answers again`,
        );
      },
    };
  }

  /**
   * The partition now belongs to another poller: drop its queue and never commit it again (a
   * batch in flight that holds it finishes for its other partitions). Assigned back before that
   * batch ends, the partition waits for it.
   * @param {number} partition
   */
  revoke(partition) {
    const owned = this.#partitions.get(partition);
    if (!owned) return;
    if (owned.queue.busy) this.#draining.set(partition, owned.queue.freed);
    owned.owned.abort();
    owned.queue.revoke();
    owned.committer.revoke();
    this.#partitions.delete(partition);
  }

  /** Takes no new event; events in flight finish (or end at their next retry) and commit. */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const owned of this.#partitions.values()) owned.owned.abort();
    this.#delivery.stop();
  }

  /** Settles once stopped and every event in flight and every commit has settled. */
  get done() {
    return (async () => {
      while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
      await Promise.all([...this.#partitions.values()].map((p) => p.committer.settled));
    })();
  }

  /** Offset lag per owned partition: the partition's end offset minus the committed offset. */
  lag() {
    return [...this.#partitions.values()]
      .sort((a, b) => a.queue.partition - b.queue.partition)
      .map(({ queue, committer }) => ({
        partition: queue.partition,
        lag: this.#lagOf(queue, committer),
      }));
  }

  /**
   * @param {InstanceType<typeof PartitionQueue>} queue
   * @param {InstanceType<typeof Committer>} committer
   */
  #lagOf(queue, committer) {
    const committed =
      committer.committed >= 0n
        ? committer.committed
        : (queue.first?.offset ?? queue.highWatermark);
    const lag = queue.highWatermark - committed;
    return lag > 0n ? Number(lag) : 0;
  }

  /**
   * What a fetched record goes through before it is queued, in AWS's order: Lambda's record
   * shape; with a schema registry, validation and deserialization (a record rejected there goes
   * to the on-failure destination); then the mapping's filters, on the deserialized content (a
   * record no filter matches is not delivered, only committed).
   * @param {number} partition
   * @param {KafkaMessageLike} message
   */
  #admit(partition, message) {
    const { mapping, deserializer } = this.#host;
    const record = toLambdaRecord(mapping.topic, partition, message);
    if (!deserializer) return { record, deliver: this.#filter(record) };
    const admitted = deserializer.admit(record, message);
    if ('rejected' in admitted) return { record, deliver: false, rejected: admitted.rejected };
    return { record: admitted.record, deliver: this.#filter(admitted.filtered) };
  }

  /** @param {import('./event').LambdaKafkaRecord} record */
  #filter(record) {
    const deliver = this.#host.mapping.filter(record);
    if (!deliver) this.#filtered += 1;
    return deliver;
  }

  /** @param {number} partition */
  #partition(partition) {
    let owned = this.#partitions.get(partition);
    if (!owned) {
      const { mapping, commit, log, pause, resume } = this.#host;
      owned = {
        queue: new PartitionQueue(partition, {
          pause: (p) => pause(p),
          resume: (p) => resume(p),
          now: this.#now,
        }),
        committer: new Committer(partition, { mapping, commit, log }),
        admitted: Promise.resolve(),
        owned: new AbortController(),
      };
      this.#partitions.set(partition, owned);
      const draining = this.#draining.get(partition);
      if (draining) {
        // Its previous owner's batch is still in flight: no second batch for this partition.
        const { queue } = owned;
        queue.hold();
        void draining.then(() => {
          if (this.#draining.get(partition) === draining) this.#draining.delete(partition);
          queue.release();
          this.#schedule();
        });
      }
    }
    return owned;
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
    const { mapping, envelopeBytes } = this.#host;
    while (!this.#stopped) {
      /** @type {OwnedPartition[]} */
      const idle = [];
      for (const p of this.#partitions.values())
        if (!p.queue.busy && p.queue.waiting > 0) idle.push(p);
      if (idle.length === 0) return;
      let closesAt = Number.POSITIVE_INFINITY;
      const load = { count: 0, bytes: envelopeBytes };
      let full = false;
      for (const { queue } of idle) {
        closesAt = Math.min(closesAt, queue.windowClosesAt(mapping.windowMs));
        if (full) continue;
        load.bytes += this.#groupKeyBytes;
        full = queue.fills(load, mapping.batchSize);
      }
      if (!full && this.#now() < closesAt) {
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
   * @param {OwnedPartition[]} idle
   */
  #startEvent(idle) {
    const { mapping, envelopeBytes } = this.#host;
    idle.sort(
      (a, b) =>
        /** @type {import('./batcher').QueuedRecord} */ (a.queue.first).arrivedAt -
        /** @type {import('./batcher').QueuedRecord} */ (b.queue.first).arrivedAt,
    );
    /** @type {Share[]} */
    const shares = [];
    let recordsLeft = mapping.batchSize;
    let bytesLeft = MAX_EVENT_BYTES - envelopeBytes;
    for (const owned of idle) {
      if (recordsLeft <= 0 || bytesLeft <= this.#groupKeyBytes) break;
      const share = owned.queue.take({
        maxRecords: recordsLeft,
        bytesLeft: bytesLeft - this.#groupKeyBytes,
        aloneLimit: MAX_EVENT_BYTES - envelopeBytes - this.#groupKeyBytes,
      });
      if (share.taken === 0) continue;
      if (share.records.length > 0) {
        recordsLeft -= share.records.length;
        bytesLeft -= share.bytes + this.#groupKeyBytes;
      }
      shares.push({ ...owned, ...share });
    }
    if (shares.length === 0) {
      // Only possible when nothing fits at all; never leave the partitions waiting forever.
      const owned = /** @type {OwnedPartition} */ (idle[0]);
      shares.push({
        ...owned,
        ...owned.queue.take({
          maxRecords: 1,
          bytesLeft: MAX_EVENT_BYTES,
          aloneLimit: MAX_EVENT_BYTES,
        }),
      });
    }
    const run = this.#delivery.run(shares).finally(() => {
      this.#inFlight.delete(run);
    });
    this.#inFlight.add(run);
  }
}

module.exports = { Poller };
