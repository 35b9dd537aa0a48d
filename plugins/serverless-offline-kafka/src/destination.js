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
 *   kind: 'kafka' | 'sqs' | 'sns' | 's3',
 *   write: (messages: FailureMessage[]) => Promise<void>,
 *   close: () => Promise<void>,
 * }} Target Where one kind of destination writes: `name` for errors, `sent` for the line that
 *   says where records went.
 */

/**
 * The on-failure destination of one mapping (`DestinationConfig.OnFailure`), from its
 * definition: records Lambda gave up on (retries or age exhausted in provisioned mode, or a
 * record too large for any event) go to a Kafka topic through the broker, one message per
 * record; SQS, SNS and S3 receive one message per batch given up, as JSON files under
 * `destinationsDir` (named by time and request id), since there is no AWS offline. Without a
 * destination they are logged and dropped, as Lambda discards them.
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
    const context = {
      mapping: this.#mapping,
      bootstrapServers,
      condition,
      invokeCount: failure.invokeCount,
      functionArn,
      error: failure.error,
    };
    const messages =
      target.kind === 'kafka'
        ? records.map((record) => failureMessage({ ...context, record }))
        : [batchFailureMessage({ ...context, records, withPayload: target.kind === 's3' })];
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
    kind: onFailure.kind,
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
    kind: 'kafka',
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
 * A record's timestamp as AWS's failure records show it: ISO-8601 with milliseconds, in UTC
 * ("2019-11-14T18:16:04.835Z"); a timestamp no date can hold stays a number in text.
 * @param {number} ms
 */
const isoTime = (ms) => {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
};

/**
 * `responseContext`: the function's response, or null when it was never invoked with the
 * records (MaximumPayloadSizeExceeded: "null if record is MaximumPayloadSizeExceeded").
 * @param {FailureCondition} condition
 * @param {string | undefined} error
 */
const responseContextOf = (condition, error) =>
  condition === 'MaximumPayloadSizeExceeded'
    ? null
    : {
        statusCode: 200,
        executedVersion: '$LATEST',
        ...(error ? { functionError: 'Unhandled' } : {}),
      };

/**
 * @typedef {{
 *   mapping: import('./definition').Mapping,
 *   bootstrapServers: readonly string[],
 *   condition: FailureCondition,
 *   invokeCount: number,
 *   functionArn: string,
 *   error: string | undefined,
 *   now?: Date,
 * }} FailureContext
 */

/**
 * What a Kafka on-failure destination receives for one record Lambda gave up on, as AWS's
 * kafka-on-failure-destination page shows it ("Failure metadata"): `requestContext`
 * (`functionArn` qualified with `:$LATEST`, `condition` `RetriesExhausted`,
 * `approximateInvokeCount`), `responseContext`, `version`, `timestamp`, `KafkaBatchInfo`
 * (`batchSize` 1, `eventSourceArn` for MSK, `bootstrapServers`, `payloadSize`, `recordInfo`
 * with the offset as a string and the record's time in ISO-8601), and `payload`, the original
 * event holding only that record. Keyed as the original record ("Lambda uses the same
 * partition key from the original record").
 *
 * Parts of AWS's example look copied from the Kinesis destination's: its offset
 * (49601189658422359378836298521827638475320189012309704722) is a 56-digit Kinesis sequence
 * number and its 2019 dates predate Kafka destinations; only the payload's values are
 * Kafka-shaped. The field names and formats are followed, not those values.
 *
 * @param {FailureContext & { record: import('./event').LambdaKafkaRecord }} input
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
    responseContext: responseContextOf(condition, error),
    version: '1.0',
    timestamp: now.toISOString(),
    KafkaBatchInfo: {
      batchSize: 1,
      ...(mapping.source.kind === 'msk' ? { eventSourceArn: mapping.source.arn } : {}),
      bootstrapServers: bootstrapServers.join(','),
      payloadSize: Buffer.byteLength(JSON.stringify(payload)),
      recordInfo: {
        offset: String(record.offset),
        timestamp: isoTime(record.timestamp),
      },
    },
    payload,
  };
  return {
    key: record.key === undefined ? null : Buffer.from(record.key, 'base64'),
    value: JSON.stringify(envelope),
    envelope,
  };
};

/**
 * The SNS/SQS condition names: AWS's kafka-on-failure example shows `RetryAttemptsExhausted`
 * where the Kafka destination's shows `RetriesExhausted`.
 * @param {FailureCondition} condition
 */
const batchCondition = (condition) =>
  condition === 'RetriesExhausted' ? 'RetryAttemptsExhausted' : condition;

/**
 * What an SQS queue, SNS topic or S3 bucket receives for a batch Lambda gave up on, as AWS's
 * "Capturing discarded batches" page shows it (its "SNS and SQS example invocation record" and
 * "S3 destination example invocation record"): one document per batch, `functionArn`
 * unqualified, `condition` `RetryAttemptsExhausted` or `MaximumPayloadSizeExceeded`,
 * `responseContext` null for the latter, and `KafkaBatchInfo` with `batchSize`,
 * `eventSourceArn` for MSK, `bootstrapServers`, `payloadSize` (bytes), and `recordsInfo`: per
 * `<topic>-<partition>` ("Each of the keys under recordsInfo contains both the Kafka topic and
 * partition, separated by a hyphen"), the first and last offsets as strings and their times in
 * ISO-8601. S3 also receives `payload`, "the original invocation record as an escaped JSON
 * string". (Its offsets and 2019 dates are Kinesis values, as in the Kafka destination's.)
 *
 * @param {FailureContext & { records: readonly import('./event').LambdaKafkaRecord[], withPayload: boolean }} input
 * @returns {FailureMessage}
 */
const batchFailureMessage = ({
  mapping,
  records,
  bootstrapServers,
  condition,
  invokeCount,
  functionArn,
  error,
  withPayload,
  now = new Date(),
}) => {
  const event = buildEvent(mapping.source, bootstrapServers, records);
  const payload = JSON.stringify(event);
  /** @type {Record<string, { firstRecordOffset: string, lastRecordOffset: string, firstRecordTimestamp: string, lastRecordTimestamp: string }>} */
  const recordsInfo = {};
  for (const [group, inGroup] of Object.entries(event.records)) {
    const first = /** @type {import('./event').LambdaKafkaRecord} */ (inGroup[0]);
    const last = /** @type {import('./event').LambdaKafkaRecord} */ (inGroup[inGroup.length - 1]);
    recordsInfo[group] = {
      firstRecordOffset: String(first.offset),
      lastRecordOffset: String(last.offset),
      firstRecordTimestamp: isoTime(first.timestamp),
      lastRecordTimestamp: isoTime(last.timestamp),
    };
  }
  const envelope = {
    requestContext: {
      requestId: randomUUID(),
      functionArn: functionArn.replace(/:\$LATEST$/, ''),
      condition: batchCondition(condition),
      approximateInvokeCount: invokeCount,
    },
    responseContext: responseContextOf(condition, error),
    version: '1.0',
    timestamp: now.toISOString(),
    KafkaBatchInfo: {
      batchSize: records.length,
      ...(mapping.source.kind === 'msk' ? { eventSourceArn: mapping.source.arn } : {}),
      bootstrapServers: bootstrapServers.join(','),
      payloadSize: Buffer.byteLength(payload),
      recordsInfo,
    },
    ...(withPayload ? { payload } : {}),
  };
  return { key: null, value: JSON.stringify(envelope), envelope };
};

module.exports = { Destination, batchFailureMessage, failureMessage };
