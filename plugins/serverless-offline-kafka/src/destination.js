// @ts-check
'use strict';

const { randomUUID } = require('node:crypto');
const { buildEvent } = require('./event');

/**
 * What an on-failure destination receives for one record Lambda gave up on (AWS
 * kafka-on-failure and kafka-on-failure-destination): a JSON envelope with `requestContext`
 * (`functionArn` qualified, `condition`, `approximateInvokeCount`), `responseContext`,
 * `version`, `timestamp` and `KafkaBatchInfo` (`batchSize`, `eventSourceArn` for MSK,
 * `bootstrapServers`, `payloadSize`, `recordInfo`). A Kafka topic and an S3 bucket also receive
 * `payload`, the original event holding only that record; SQS and SNS receive the metadata only.
 * A Kafka destination message is keyed as the original record.
 *
 * @typedef {'RetriesExhausted' | 'RecordAgeExceeded' | 'MaximumPayloadSizeExceeded'} FailureCondition
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
 * @returns {{ key: Buffer | null, value: string, envelope: Record<string, unknown> }}
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

module.exports = { failureMessage };
