// @ts-check
'use strict';

const { envelopeBytes } = require('./event');
const { withDecoder } = require('./records');
const { Poller } = require('./poller');
const { describe, withTimeout } = require('./util');

/**
 * The event source of one mapping: a kafkajs consumer in the mapping's group (one event poller)
 * that feeds a `Poller` with the records of the partitions it is assigned. Offsets are committed
 * by the poller after successful invocations only (kafkajs auto-commit is off). Never throws
 * into the offline process: a missing topic or an unreachable broker is logged and retried in
 * the background; a batch that cannot be decoded blocks only its partition, with backoff.
 */

const RECONNECT_DELAY_MS = 5_000;
const FETCH_MAX_WAIT_MS = 500;
/**
 * The broker's smallest allowed session (group.min.session.timeout.ms, 6 s by default): a poller
 * killed without leaving its group holds its partitions this long, not kafkajs's 30 s.
 */
const SESSION_TIMEOUT_MS = 6_000;
const HEARTBEAT_INTERVAL_MS = 1_000;
/** Say what the join waits for when it takes longer than this. */
const SLOW_JOIN_NOTICE_MS = 2_000;
/**
 * A commit refused because the group's coordinator moved (its broker restarted or died) is tried
 * again, this many times in all, after 250 ms, 500 ms, ... kafkajs keeps the coordinator it found
 * at the join: on a closed connection it looks up the same node id again, and on NOT_COORDINATOR
 * it only refreshes the metadata and throws (src/consumer/offsetManager: getCoordinator,
 * commitOffsets; the same for a coordinator that died: "Broker N not found in the cached
 * metadata"; kafkajs#1779, an open pull request, and kafkajs#1152). A heartbeat that gets the
 * same error makes the consumer join again, which finds the new coordinator; but heartbeats go to
 * the group's coordinator as found at the join, which may answer while the offsets' does not,
 * and commits stayed refused for minutes. After the last attempt the consumer is replaced: the
 * new one finds the coordinator as it joins, and the records after the last commit are delivered
 * again (at least once). The committer tries the offset again meanwhile (committer.js).
 */
const COMMIT_ATTEMPTS = 6;
const COMMIT_RETRY_MS = 250;
/** kafkajs errors that mean the coordinator moved or cannot be reached for now. */
const COORDINATOR_MOVED = new Set([
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
]);
/**
 * Marks `error` as one the committer must not try again after (committer.js).
 * @param {unknown} error
 */
const notRetriable = (error) =>
  error !== null && typeof error === 'object' ? Object.assign(error, { retriable: false }) : error;

/** @param {unknown} error */
const coordinatorMoved = (error) => {
  const e = /** @type {{ type?: string, name?: string, cause?: unknown }} */ (error ?? {});
  if (e.type && COORDINATOR_MOVED.has(e.type)) return true;
  if (e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSBrokerNotFound')
    return true;
  return /^KafkaJSConnection(Closed)?Error$|^KafkaJSRequestTimeoutError$/.test(e.name ?? '');
};

/**
 * kafkajs restarting its consumer after a retriable crash (a coordinator gone in a rolling
 * restart): until its run rejoins, commitOffsets throws "Consumer group was not initialized"
 * (src/consumer/index.js, as a KafkaJSNonRetriableError). The partitions are still this
 * member's until the join revokes them, so the commit is tried again: dropped, the group's lag
 * stayed above 0 after the last record (tests/faults/cluster.test.ts, rolling restart).
 * @param {unknown} error
 */
const rejoining = (error) =>
  /Consumer group was not initialized/.test(
    String(/** @type {{ message?: unknown } | null} */ (error)?.message ?? ''),
  );

/**
 * @typedef {import('kafkajs').Kafka} Kafka
 * @typedef {import('kafkajs').Consumer} Consumer
 * @typedef {import('./definition').Mapping} Mapping
 * @typedef {import('./util').Log} Log
 * @typedef {import('./event').LambdaKafkaEvent} LambdaKafkaEvent
 * @typedef {{
 *   mapping: Mapping,
 *   kafka: Kafka,
 *   bootstrapServers: readonly string[],
 *   invoke: (event: LambdaKafkaEvent) => Promise<unknown>,
 *   destination: Pick<InstanceType<typeof import('./destination').Destination>, 'send' | 'close'>,
 *   deserializer?: InstanceType<typeof import('./registry/deserializer').Deserializer>,
 *   retryDelayMs: (attempt: number) => number,
 *   log: Log,
 * }} SourceOptions `destination`: the mapping's on-failure destination, handed to the poller;
 *   closed on stop; `deserializer`: its schema registry step, if any.
 */

/**
 * @typedef {{
 *   functionKey: string,
 *   functionName: string,
 *   topic: string,
 *   groupId: string,
 *   batchSize: number,
 *   batchingWindowMs: number,
 *   startingPosition: Mapping['startingPosition'],
 *   filters: string[],
 *   mode: 'on-demand' | 'provisioned',
 *   provisionedPollers: { min: number, max: number } | null,
 *   maximumRetryAttempts: number,
 *   bisectBatchOnFunctionError: boolean,
 *   reportBatchItemFailures: boolean,
 *   onFailure: string | null,
 *   status: 'connecting' | 'consuming' | 'stopped',
 *   pollers: (import('./poller').PollerSnapshot & { memberId: string | null, assigned: number[] })[],
 * }} MappingSnapshot One mapping's settings and state (README, "State").
 */

class KafkaEventSource {
  /** @type {SourceOptions} */
  #options;
  /** @type {Consumer | undefined} */
  #consumer;
  /** @type {InstanceType<typeof Poller>} */
  #poller;
  #stopping = false;
  /** @type {Promise<void> | undefined} */
  #connecting;
  /** @type {(() => void) | undefined} */
  #wakeReconnect;
  /** Why each partition is paused ('backlog', 'undecodable'); fetched again when none is left. */
  /** @type {Map<number, Set<string>>} */
  #paused = new Map();
  /** Undecodable batches per partition: the attempt count and the timer of the next try. */
  /** @type {Map<number, { offset: string, attempts: number, timer: NodeJS.Timeout | undefined }>} */
  #undecodable = new Map();
  #crashes = 0;
  /** @type {'connecting' | 'consuming' | 'stopped'} */
  #status = 'connecting';
  /** The poller's member id in the group, once joined. @type {string | null} */
  #memberId = null;
  /** The partitions the group assigned it at the last join. @type {number[]} */
  #assigned = [];

  /** @param {SourceOptions} options */
  constructor(options) {
    this.#options = options;
    this.#poller = this.#newPoller();
  }

  get mapping() {
    return this.#options.mapping;
  }

  /** Invocations, errors and offset lag per partition (MetricsConfig, offline). */
  metrics() {
    return { ...this.#poller.metrics, lag: this.#poller.lag() };
  }

  /**
   * The mapping's settings and its state now, as plain data (README, "State"). One poller: the
   * plugin runs one kafkajs consumer per mapping, in the mapping's group.
   * @returns {MappingSnapshot}
   */
  snapshot() {
    const { mapping } = this.#options;
    const { errorHandling: eh } = mapping;
    return {
      functionKey: mapping.functionKey,
      functionName: mapping.functionName,
      topic: mapping.topic,
      groupId: mapping.groupId,
      batchSize: mapping.batchSize,
      batchingWindowMs: mapping.windowMs,
      startingPosition: mapping.startingPosition,
      filters: mapping.filterPatterns,
      mode: eh.provisioned ? 'provisioned' : 'on-demand',
      provisionedPollers: mapping.pollers ?? null,
      maximumRetryAttempts: eh.maxRetries,
      bisectBatchOnFunctionError: eh.bisect,
      reportBatchItemFailures: eh.reportBatchItemFailures,
      onFailure: !eh.onFailure
        ? null
        : eh.onFailure.kind === 'kafka'
          ? `kafka://${eh.onFailure.topic}`
          : eh.onFailure.arn,
      status: this.#status,
      pollers: [{ memberId: this.#memberId, assigned: this.#assigned, ...this.#poller.snapshot() }],
    };
  }

  /** Starts consuming in the background; never waits for the broker. */
  start() {
    this.#connecting = this.#connectLoop();
  }

  /**
   * Stops fetching, lets in-flight invocations finish and commit (up to `timeoutMs`), then
   * leaves the group and closes the destination. Records not yet delivered are delivered again
   * on the next start.
   * @param {number} timeoutMs
   */
  async stop(timeoutMs) {
    this.#stopping = true;
    this.#status = 'stopped';
    this.#wakeReconnect?.();
    for (const u of this.#undecodable.values()) clearTimeout(u.timer);
    const { log, mapping } = this.#options;
    try {
      this.#consumer?.pause([{ topic: mapping.topic }]);
    } catch {
      // not running yet
    }
    this.#poller.stop();
    const settled = await withTimeout(
      this.#poller.done.then(() => true),
      timeoutMs,
      false,
    );
    if (!settled) {
      log.warning(
        `Kafka ${mapping.functionKey}: invocations still running after ${timeoutMs} ms; their records will be delivered again`,
      );
    }
    await withTimeout(this.#connecting ?? Promise.resolve(), 1_000, undefined);
    await withTimeout(this.#consumer?.disconnect() ?? Promise.resolve(), 10_000, undefined).catch(
      () => undefined,
    );
    await withTimeout(this.#options.destination.close(), 5_000, undefined).catch(() => undefined);
  }

  #newPoller() {
    const { mapping, bootstrapServers, invoke, destination, deserializer, log, retryDelayMs } =
      this.#options;
    return new Poller({
      mapping,
      bootstrapServers,
      envelopeBytes: envelopeBytes(mapping.source, bootstrapServers, mapping.topic, 0),
      invoke,
      destination,
      retryDelayMs,
      log,
      commit: (p, offset) => this.#commit(p, offset),
      pause: (p, reason = 'backlog') => this.#pause(p, reason),
      resume: (p, reason = 'backlog') => this.#resume(p, reason),
      deserializer,
    });
  }

  async #connectLoop() {
    const { log, mapping } = this.#options;
    while (!this.#stopping) {
      try {
        await this.#connect();
        log.notice(
          `Kafka ${mapping.functionKey}: consuming ${mapping.topic} in group ${mapping.groupId} ` +
            `(batch ${mapping.batchSize}, window ${mapping.windowMs / 1000} s, from ${mapping.startingPosition})`,
        );
        return;
      } catch (error) {
        await this.#consumer?.disconnect().catch(() => undefined);
        this.#consumer = undefined;
        if (this.#stopping) return;
        log.warning(
          `Kafka ${mapping.functionKey}: cannot consume ${mapping.topic} yet: ${describe(error)}; retrying in ${RECONNECT_DELAY_MS / 1000} s`,
        );
        await this.#sleep(RECONNECT_DELAY_MS);
      }
    }
  }

  /** @param {number} ms */
  #sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wakeReconnect = () => {
        clearTimeout(timer);
        resolve(undefined);
      };
    });
  }

  async #connect() {
    const { kafka, mapping, log } = this.#options;
    await this.#prepareGroup();
    const consumer = kafka.consumer({
      groupId: mapping.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      readUncommitted: false,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_INTERVAL_MS,
      rebalanceTimeout: 2 * SESSION_TIMEOUT_MS,
    });
    this.#consumer = consumer;
    /** @type {NodeJS.Timeout | undefined} */
    let slowJoin;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      clearTimeout(slowJoin);
      this.#crashes = 0;
      this.#status = 'consuming';
      this.#memberId = payload.memberId;
      this.#assigned = [...(payload.memberAssignment[mapping.topic] ?? [])].sort((a, b) => a - b);
      const partitions = payload.memberAssignment[mapping.topic] ?? [];
      log.notice(
        `Kafka ${mapping.functionKey}: joined group ${mapping.groupId}, partitions [${partitions.join(',')}] of ${mapping.topic}`,
      );
      this.#onAssignment(partitions);
    });
    // A fetch of only such records never reaches eachBatch: kafkajs moves past it by itself.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize > 0 || payload.topic !== mapping.topic) return;
      this.#poller.enqueue(
        payload.partition,
        [],
        String(payload.highWatermark),
        BigInt(payload.lastOffset),
      );
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      clearTimeout(slowJoin);
      if (payload.restart || this.#stopping) return;
      this.#status = 'connecting';
      this.#crashes += 1;
      const delay = Math.min(RECONNECT_DELAY_MS, this.#options.retryDelayMs(this.#crashes));
      log.warning(
        `Kafka ${mapping.functionKey}: consumer stopped: ${describe(payload.error)}; reconnecting in ${(delay / 1000).toFixed(1)} s`,
      );
      this.#replace(consumer, delay);
    });
    await consumer.connect();
    await consumer.subscribe({
      topic: mapping.topic,
      fromBeginning: mapping.startingPosition !== 'LATEST',
    });
    slowJoin = setTimeout(() => {
      log.notice(
        `Kafka ${mapping.functionKey}: waiting to join group ${mapping.groupId}: a member that stopped without leaving (a killed process) keeps its partitions until its session expires (up to ${SESSION_TIMEOUT_MS / 1000} s for this plugin's pollers, 30 s for a kafkajs default, 45 s for a Java default)`,
      );
    }, SLOW_JOIN_NOTICE_MS);
    slowJoin.unref();
    await withDecoder(() =>
      consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 16,
        eachBatch: async ({ batch, resolveOffset }) => this.#onBatch(batch, resolveOffset),
      }),
    );
  }

  /**
   * Hands a fetched batch to the poller up to its first undecodable record batch, if any: that
   * partition is paused and fetched again from there after a backoff.
   * @param {import('kafkajs').Batch} batch
   * @param {(offset: string) => void} resolveOffset
   */
  #onBatch(batch, resolveOffset) {
    const { partition } = batch;
    const messages = /** @type {(import('kafkajs').KafkaMessage & { undecodable?: string })[]} */ (
      batch.messages
    );
    const bad = messages.findIndex((m) => m.undecodable !== undefined);
    const good = bad < 0 ? messages : messages.slice(0, bad);
    const last = good[good.length - 1];
    // Read committed, a fetch can end with records Lambda never sees (a transaction's marker,
    // an aborted transaction's records): the commit goes past them once the records before are
    // done, as the Java consumer's position does; otherwise the group's lag stays above 0.
    const through = bad < 0 ? BigInt(batch.lastOffset()) : undefined;
    if (last) {
      const past = through !== undefined && through > BigInt(last.offset) ? through : undefined;
      this.#poller.enqueue(partition, /** @type {any} */ (good), batch.highWatermark, past);
      resolveOffset(String(past ?? last.offset));
    }
    const marker = bad < 0 ? undefined : messages[bad];
    if (!marker) {
      // Decoded again after a failure: the partition flows as before.
      this.#undecodable.delete(partition);
      return;
    }
    const previous = this.#undecodable.get(partition);
    const attempts = previous?.offset === marker.offset ? previous.attempts + 1 : 1;
    const delay = this.#options.retryDelayMs(attempts);
    const { mapping, log } = this.#options;
    log.error(
      `Kafka ${mapping.functionKey} ${mapping.topic}-${partition}: ${marker.undecodable}; fetching it again in ${(delay / 1000).toFixed(1)} s (attempt ${attempts + 1}); other partitions go on`,
    );
    this.#pause(partition, 'undecodable');
    const timer = setTimeout(() => {
      const entry = this.#undecodable.get(partition);
      if (entry) entry.timer = undefined;
      this.#resume(partition, 'undecodable');
    }, delay);
    this.#undecodable.set(partition, { offset: marker.offset, attempts, timer });
  }

  /** @param {number} partition @param {string} reason */
  #pause(partition, reason) {
    let reasons = this.#paused.get(partition);
    if (!reasons) {
      reasons = new Set();
      this.#paused.set(partition, reasons);
    }
    const wasRunning = reasons.size === 0;
    reasons.add(reason);
    if (wasRunning)
      this.#consumer?.pause([{ topic: this.#options.mapping.topic, partitions: [partition] }]);
  }

  /** @param {number} partition @param {string} reason */
  #resume(partition, reason) {
    const reasons = this.#paused.get(partition);
    if (!reasons?.delete(reason) || reasons.size > 0) return;
    this.#consumer?.resume([{ topic: this.#options.mapping.topic, partitions: [partition] }]);
  }

  /**
   * Checks that the topic exists (never auto-created) and, for AT_TIMESTAMP, points a group
   * without committed offsets at the first record at or after the timestamp.
   */
  async #prepareGroup() {
    const { kafka, mapping } = this.#options;
    const admin = kafka.admin();
    await admin.connect();
    try {
      const topics = await admin.listTopics();
      if (!topics.includes(mapping.topic))
        throw new Error(`topic "${mapping.topic}" does not exist`);
      if (
        mapping.startingPosition !== 'AT_TIMESTAMP' ||
        mapping.startingPositionTimestampMs === undefined
      )
        return;
      const [committed] = await admin.fetchOffsets({
        groupId: mapping.groupId,
        topics: [mapping.topic],
      });
      if (committed?.partitions.some((p) => Number(p.offset) >= 0)) return;
      const positions = await admin.fetchTopicOffsetsByTimestamp(
        mapping.topic,
        mapping.startingPositionTimestampMs,
      );
      await admin.setOffsets({
        groupId: mapping.groupId,
        topic: mapping.topic,
        partitions: positions,
      });
    } finally {
      await admin.disconnect();
    }
  }

  /** @param {number[]} partitions the partitions now assigned to this poller */
  #onAssignment(partitions) {
    const assigned = new Set(partitions);
    for (const partition of new Set([...this.#paused.keys(), ...this.#undecodable.keys()])) {
      if (assigned.has(partition)) continue;
      clearTimeout(this.#undecodable.get(partition)?.timer);
      this.#undecodable.delete(partition);
      // kafkajs keeps a pause across rebalances: were the partition assigned back, it would
      // never be fetched again.
      if (this.#paused.get(partition)?.size)
        this.#consumer?.resume([{ topic: this.#options.mapping.topic, partitions: [partition] }]);
      this.#paused.delete(partition);
    }
    for (const { partition } of this.#poller.lag()) {
      if (!assigned.has(partition)) this.#poller.revoke(partition);
    }
  }

  /**
   * Drops `consumer` (its partitions revoked here, their records after the last commit delivered
   * again) and connects a new one after `delayMs`, unless it was already replaced.
   * @param {Consumer} consumer @param {number} delayMs
   */
  #replace(consumer, delayMs) {
    if (this.#consumer !== consumer || this.#stopping) return;
    this.#consumer = undefined;
    this.#revokeAll();
    void consumer.disconnect().catch(() => undefined);
    this.#connecting = this.#sleep(delayMs).then(() => this.#connectLoop());
  }

  #revokeAll() {
    for (const { partition } of this.#poller.lag()) this.#poller.revoke(partition);
    for (const u of this.#undecodable.values()) clearTimeout(u.timer);
    this.#undecodable.clear();
    this.#paused.clear();
  }

  /**
   * Commits `offset`, trying again while the group's coordinator moves (`COMMIT_ATTEMPTS`).
   * @param {number} partition @param {bigint} offset
   */
  async #commit(partition, offset) {
    for (let attempt = 1; ; attempt++) {
      const consumer = this.#consumer;
      // Nothing to commit with: the committer gives up (its partition is revoked by then). While
      // stopping, the consumer is still in the group until the invocations in flight have ended:
      // their commits go through (stop()).
      if (!consumer) throw notRetriable(new Error('not connected'));
      try {
        await consumer.commitOffsets([
          { topic: this.#options.mapping.topic, partition, offset: offset.toString() },
        ]);
        return;
      } catch (error) {
        // Any other refusal (a rebalance under way, a generation gone) is not tried again: the
        // partition may be another poller's by then.
        if (this.#stopping) throw notRetriable(error);
        // The committer tries it again (committer.js) until the join revokes the partition.
        if (rejoining(error))
          throw new Error('the consumer is joining its group again', { cause: error });
        if (!coordinatorMoved(error)) throw notRetriable(error);
        if (attempt >= COMMIT_ATTEMPTS) {
          const { log, mapping } = this.#options;
          log.warning(
            `Kafka ${mapping.functionKey}: commits still refused after ${COMMIT_ATTEMPTS} attempts (${describe(error)}); joining the group again with a new consumer`,
          );
          this.#replace(consumer, 0);
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, COMMIT_RETRY_MS * attempt));
      }
    }
  }
}

module.exports = { KafkaEventSource, coordinatorMoved, rejoining };
