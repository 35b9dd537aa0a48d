// @ts-check
'use strict';

const { randomUUID } = require('node:crypto');
const { mkdir, writeFile } = require('node:fs/promises');
const { join } = require('node:path');
const { buildEvent } = require('./event');
const { describe, recordsLabel } = require('./util');

/**
 * @typedef {import('./definition').Mapping} Mapping
 * @typedef {import('./event').LambdaKafkaRecord} LambdaKafkaRecord
 * @typedef {import('./util').Log} Log
 * @typedef {'RetriesExhausted' | 'RecordAgeExceeded' | 'MaximumPayloadSizeExceeded' | import('./registry/deserializer').RejectReason} FailureCondition
 * @typedef {{ condition: FailureCondition, invokeCount: number, error: string | undefined }} Failure
 *   Why Lambda gave records up, after how many invocations, and the function's error if any.
 * @typedef {{ key: Buffer | null, value: string, envelope: Record<string, unknown> }} FailureMessage
 * @typedef {{
 *   kafka: import('kafkajs').Kafka,
 *   bootstrapServers: readonly string[],
 *   functionArn: string,
 *   destinationsDir: string,
 *   retryDelayMs: (attempt: number) => number,
 *   log: Log,
 * }} DestinationContext
 * @typedef {{
 *   name: string,
 *   sent: string,
 *   withPayload: boolean,
 *   write: (messages: FailureMessage[]) => Promise<void>,
 *   close: () => Promise<void>,
 * }} Target Where one kind of destination writes: `name` for errors, `sent` for the line that
 *   says where records went.
 */

/**
 * The on-failure destination of one mapping (`DestinationConfig.OnFailure`), from its
 * definition: records Lambda gave up on (retries or age exhausted in provisioned mode, or a
 * record too large for any event) go to a Kafka topic through the broker; SQS, SNS and S3 as
 * JSON files under `destinationsDir` (one file per record, named by time and request id), since
 * there is no AWS offline. Without a destination they are logged and dropped, as Lambda
 * discards them.
 */
class Destination {
  /** @type {Mapping} */
  #mapping;
  /** @type {DestinationContext} */
  #context;
  /** @type {Target | undefined} */
  #target;

  /**
   * @param {Mapping} mapping
   * @param {DestinationContext} context
   */
  constructor(mapping, context) {
    this.#mapping = mapping;
    this.#context = context;
    this.#target = targetOf(mapping.errorHandling.onFailure, context);
  }

  /**
   * Sends `records`, one message each, and settles once the destination holds them (retrying
   * with backoff meanwhile): records given up on are committed only then. Rejects only when
   * `signal` aborts (the poller stops) while the destination cannot be written; the records are
   * then delivered again on the next start.
   * @param {LambdaKafkaRecord[]} records
   * @param {Failure} failure
   * @param {AbortSignal} signal
   */
  async send(records, failure, signal) {
    const { bootstrapServers, functionArn, log } = this.#context;
    const { condition } = failure;
    const target = this.#target;
    if (!target) {
      if (condition !== 'MaximumPayloadSizeExceeded') {
        log.error(
          `${recordsLabel(this.#mapping, records)}: ${condition}; ${records.length} record(s) discarded (no on-failure destination)`,
        );
      }
      return;
    }
    const messages = records.map((record) =>
      failureMessage({
        mapping: this.#mapping,
        record,
        bootstrapServers,
        condition,
        invokeCount: failure.invokeCount,
        functionArn,
        error: failure.error,
        withPayload: target.withPayload,
      }),
    );
    await this.#untilWritten(target, messages, signal);
    log.warning(
      `${recordsLabel(this.#mapping, records)}: ${condition}; ${records.length} record(s) ${target.sent}`,
    );
  }

  /** Lets go of the destination's connection, if it has one. */
  async close() {
    await this.#target?.close();
  }

  /**
   * @param {Target} target
   * @param {FailureMessage[]} messages
   * @param {AbortSignal} signal
   */
  async #untilWritten(target, messages, signal) {
    const { log, retryDelayMs } = this.#context;
    for (let attempt = 1; ; attempt++) {
      try {
        await target.write(messages);
        return;
      } catch (error) {
        if (signal.aborted) throw error;
        const delay = retryDelayMs(attempt);
        log.error(
          `Kafka ${this.#mapping.functionKey}: cannot write to ${target.name}: ${describe(error)}; retrying in ${(delay / 1000).toFixed(1)} s`,
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (signal.aborted) throw error;
      }
    }
  }
}

/**
 * @param {Mapping['errorHandling']['onFailure']} onFailure
 * @param {DestinationContext} context
 * @returns {Target | undefined}
 */
const targetOf = (onFailure, context) => {
  if (!onFailure) return undefined;
  if (onFailure.kind === 'kafka') return kafkaTopic(context.kafka, onFailure.topic);
  const dir = join(context.destinationsDir, onFailure.kind, onFailure.name);
  const name = `the ${onFailure.kind} destination ${onFailure.name}`;
  return {
    name,
    sent: `written to ${name} (${dir})`,
    withPayload: onFailure.kind === 's3',
    write: async (messages) => {
      await mkdir(dir, { recursive: true });
      for (const m of messages) {
        const context = /** @type {{ requestId: string }} */ (m.envelope.requestContext);
        const stamp = String(m.envelope.timestamp).replace(/[:.]/g, '-');
        await writeFile(join(dir, `${stamp}-${context.requestId}.json`), `${m.value}\n`);
      }
    },
    close: async () => undefined,
  };
};

/**
 * A Kafka topic on the source's cluster, written by an idempotent producer connected on first
 * use, keyed as the original records.
 * @param {import('kafkajs').Kafka} kafka
 * @param {string} topic
 * @returns {Target}
 */
const kafkaTopic = (kafka, topic) => {
  /** @type {import('kafkajs').Producer | undefined} */
  let producer;
  return {
    name: `kafka://${topic}`,
    sent: `sent to kafka://${topic}`,
    withPayload: true,
    write: async (messages) => {
      if (!producer) {
        const connecting = kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
        });
        await connecting.connect();
        producer = connecting;
      }
      await producer.send({
        topic,
        acks: -1,
        messages: messages.map(({ key, value }) => ({ key, value })),
      });
    },
    close: async () => {
      await producer?.disconnect();
    },
  };
};

/**
 * What an on-failure destination receives for one record Lambda gave up on (AWS
 * kafka-on-failure and kafka-on-failure-destination): a JSON envelope with `requestContext`
 * (`functionArn` qualified, `condition`, `approximateInvokeCount`), `responseContext`,
 * `version`, `timestamp` and `KafkaBatchInfo` (`batchSize`, `eventSourceArn` for MSK,
 * `bootstrapServers`, `payloadSize`, `recordInfo`). A Kafka topic and an S3 bucket also receive
 * `payload`, the original event holding only that record; SQS and SNS receive the metadata only.
 * A Kafka destination message is keyed as the original record.
 *
 * @param {{
 *   mapping: import('./definition').Mapping,
 *   record: import('./event').LambdaKafkaRecord,
 *   bootstrapServers: readonly string[],
 *   condition: FailureCondition,
 *   invokeCount: number,
 *   functionArn: string,
 *   error: string | undefined,
 *   withPayload?: boolean,
 *   now?: Date,
 * }} input
 * @returns {FailureMessage}
 */
const failureMessage = ({
  mapping,
  record,
  bootstrapServers,
  condition,
  invokeCount,
  functionArn,
  error,
  withPayload = true,
  now = new Date(),
}) => {
  const payload = buildEvent(mapping.source, bootstrapServers, [record]);
  const envelope = {
    requestContext: {
      requestId: randomUUID(),
      functionArn: functionArn.endsWith(':$LATEST') ? functionArn : `${functionArn}:$LATEST`,
      condition,
      approximateInvokeCount: invokeCount,
    },
    responseContext: {
      statusCode: 200,
      executedVersion: '$LATEST',
      ...(error ? { functionError: 'Unhandled' } : {}),
    },
    version: '1.0',
    timestamp: now.toISOString(),
    KafkaBatchInfo: {
      batchSize: 1,
      ...(mapping.source.kind === 'msk' ? { eventSourceArn: mapping.source.arn } : {}),
      bootstrapServers: bootstrapServers.join(','),
      payloadSize: Buffer.byteLength(JSON.stringify(payload)),
      recordInfo: {
        offset: String(record.offset),
        timestamp: String(record.timestamp),
      },
    },
    ...(withPayload ? { payload } : {}),
  };
  return {
    key: record.key === undefined ? null : Buffer.from(record.key, 'base64'),
    value: JSON.stringify(envelope),
    envelope,
  };
};

module.exports = { Destination, failureMessage };
