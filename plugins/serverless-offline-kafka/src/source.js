// @ts-check
'use strict';

const { envelopeBytes } = require('./event');
const { failureMessage } = require('./destination');
const { PartitionWorker, describe } = require('./worker');

/**
 * The event source of one mapping: a kafkajs consumer in the mapping's group that feeds one
 * `PartitionWorker` per assigned partition. Partitions progress in parallel; offsets are
 * committed by the workers after successful invocations only (kafkajs auto-commit is off).
 * Never throws into the offline process: a missing topic or an unreachable broker is logged and
 * retried in the background.
 */

const RECONNECT_DELAY_MS = 5_000;
const FETCH_MAX_WAIT_MS = 500;

/**
 * @typedef {import('kafkajs').Kafka} Kafka
 * @typedef {import('kafkajs').Consumer} Consumer
 * @typedef {import('kafkajs').Producer} Producer
 * @typedef {import('./definition').Mapping} Mapping
 * @typedef {import('./worker').Log} Log
 * @typedef {import('./event').LambdaKafkaEvent} LambdaKafkaEvent
 * @typedef {{
 *   mapping: Mapping,
 *   kafka: Kafka,
 *   bootstrapServers: readonly string[],
 *   invoke: (event: LambdaKafkaEvent) => Promise<unknown>,
 *   functionArn: string,
 *   retryDelayMs: (attempt: number) => number,
 *   log: Log,
 * }} SourceOptions
 */

class KafkaEventSource {
  /** @type {SourceOptions} */
  #options;
  /** @type {Consumer | undefined} */
  #consumer;
  /** @type {Producer | undefined} */
  #destination;
  /** @type {Map<number, InstanceType<typeof PartitionWorker>>} */
  #workers = new Map();
  #stopping = false;
  /** @type {Promise<void> | undefined} */
  #connecting;
  /** @type {(() => void) | undefined} */
  #wakeReconnect;

  /** @param {SourceOptions} options */
  constructor(options) {
    this.#options = options;
  }

  get mapping() {
    return this.#options.mapping;
  }

  /** Starts consuming in the background; never waits for the broker. */
  start() {
    this.#connecting = this.#connectLoop();
  }

  /**
   * Stops fetching, lets in-flight invocations finish and commit (up to `timeoutMs`), then
   * leaves the group. Records not yet delivered are delivered again on the next start.
   * @param {number} timeoutMs
   */
  async stop(timeoutMs) {
    this.#stopping = true;
    this.#wakeReconnect?.();
    const { log, mapping } = this.#options;
    try {
      this.#consumer?.pause([{ topic: mapping.topic }]);
    } catch {
      // not running yet
    }
    for (const worker of this.#workers.values()) worker.stop();
    const settled = await withTimeout(
      Promise.all([...this.#workers.values()].map((w) => w.done)).then(() => true),
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
    await withTimeout(this.#destination?.disconnect() ?? Promise.resolve(), 5_000, undefined).catch(
      () => undefined,
    );
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
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, RECONNECT_DELAY_MS);
          this.#wakeReconnect = () => {
            clearTimeout(timer);
            resolve(undefined);
          };
        });
      }
    }
  }

  async #connect() {
    const { kafka, mapping } = this.#options;
    await this.#prepareGroup();
    const consumer = kafka.consumer({
      groupId: mapping.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      readUncommitted: false,
    });
    this.#consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const partitions = payload.memberAssignment[mapping.topic] ?? [];
      this.#options.log.notice(
        `Kafka ${mapping.functionKey}: joined group ${mapping.groupId}, partitions [${partitions.join(',')}] of ${mapping.topic}`,
      );
      this.#onAssignment(partitions);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.#stopping) return;
      this.#options.log.warning(
        `Kafka ${mapping.functionKey}: consumer stopped: ${describe(payload.error)}; reconnecting`,
      );
      this.#revokeAll();
      void consumer.disconnect().catch(() => undefined);
      this.#connecting = this.#connectLoop();
    });
    await consumer.connect();
    await consumer.subscribe({
      topic: mapping.topic,
      fromBeginning: mapping.startingPosition !== 'LATEST',
    });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 16,
      eachBatch: async ({ batch }) => {
        this.#workerFor(batch.partition).enqueue(batch.messages);
      },
    });
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

  /** @param {number[]} partitions the partitions now assigned to this consumer */
  #onAssignment(partitions) {
    const assigned = new Set(partitions);
    for (const [partition, worker] of this.#workers) {
      if (!assigned.has(partition)) {
        worker.revoke();
        this.#workers.delete(partition);
      }
    }
  }

  #revokeAll() {
    for (const worker of this.#workers.values()) worker.revoke();
    this.#workers.clear();
  }

  /** @param {number} partition */
  #workerFor(partition) {
    let worker = this.#workers.get(partition);
    if (!worker) {
      const { mapping, bootstrapServers, invoke, log, retryDelayMs } = this.#options;
      worker = new PartitionWorker(partition, {
        mapping,
        bootstrapServers,
        envelopeBytes: envelopeBytes(mapping.source, bootstrapServers, mapping.topic),
        invoke,
        retryDelayMs,
        log,
        commit: (p, offset) => this.#commit(p, offset),
        pause: (p) => this.#consumer?.pause([{ topic: mapping.topic, partitions: [p] }]),
        resume: (p) => this.#consumer?.resume([{ topic: mapping.topic, partitions: [p] }]),
        giveUp: (records, condition, invokeCount, error) =>
          this.#giveUp(records, condition, invokeCount, error),
      });
      this.#workers.set(partition, worker);
    }
    return worker;
  }

  /** @param {number} partition @param {bigint} offset */
  async #commit(partition, offset) {
    const consumer = this.#consumer;
    if (!consumer) throw new Error('not connected');
    await consumer.commitOffsets([
      { topic: this.#options.mapping.topic, partition, offset: offset.toString() },
    ]);
  }

  /**
   * Provisioned mode: records that exhausted their retries (or their age) go to the on-failure
   * destination, or are logged and dropped when there is none (as Lambda discards them).
   * @param {import('./event').LambdaKafkaRecord[]} records
   * @param {'RetriesExhausted' | 'RecordAgeExceeded'} condition
   * @param {number} invokeCount
   * @param {string | undefined} error
   */
  async #giveUp(records, condition, invokeCount, error) {
    const { mapping, log, bootstrapServers, functionArn, kafka } = this.#options;
    const first = records[0];
    const last = records[records.length - 1];
    const where = `${mapping.topic}-${first?.partition} [${first?.offset}..${last?.offset}]`;
    const destination = mapping.errorHandling.onFailure;
    if (destination?.kind !== 'kafka') {
      log.error(
        `Kafka ${mapping.functionKey} ${where}: ${condition}; ${records.length} record(s) discarded${destination ? ` (destination ${destination.arn} is not emulated)` : ''}`,
      );
      return;
    }
    const messages = records.map((record) =>
      failureMessage({
        mapping,
        record,
        bootstrapServers,
        condition,
        invokeCount,
        functionArn,
        error,
      }),
    );
    for (let attempt = 1; ; attempt++) {
      try {
        if (!this.#destination) {
          const producer = kafka.producer({
            idempotent: true,
            maxInFlightRequests: 1,
            allowAutoTopicCreation: false,
          });
          await producer.connect();
          this.#destination = producer;
        }
        await this.#destination.send({ topic: destination.topic, acks: -1, messages });
        log.warning(
          `Kafka ${mapping.functionKey} ${where}: ${condition}; ${records.length} record(s) sent to kafka://${destination.topic}`,
        );
        return;
      } catch (sendError) {
        if (this.#stopping) throw sendError;
        log.error(
          `Kafka ${mapping.functionKey}: cannot write to kafka://${destination.topic}: ${describe(sendError)}; retrying`,
        );
        await new Promise((resolve) => setTimeout(resolve, this.#options.retryDelayMs(attempt)));
      }
    }
  }
}

/**
 * @template T, F
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {F} fallback
 * @returns {Promise<T | F>}
 */
const withTimeout = (promise, ms, fallback) => {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  return Promise.race([
    promise,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(fallback), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

module.exports = { KafkaEventSource, withTimeout };
