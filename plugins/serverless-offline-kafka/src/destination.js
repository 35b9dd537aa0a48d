// @ts-check
'use strict';

const { randomUUID } = require('node:crypto');
const { buildEvent } = require('./event');

/**
 * The message an on-failure Kafka destination (`kafka://<topic>`) receives for one record that
 * Lambda gave up on: keyed as the original record, its value a JSON envelope holding the
 * original event with only that record (AWS `kafka-on-failure-destination`).
 *
 * @param {{
 *   mapping: import('./definition').Mapping,
 *   record: import('./event').LambdaKafkaRecord,
 *   bootstrapServers: readonly string[],
 *   condition: 'RetriesExhausted' | 'RecordAgeExceeded',
 *   invokeCount: number,
 *   functionArn: string,
 *   error: string | undefined,
 *   now?: Date,
 * }} input
 * @returns {{ key: Buffer | null, value: string }}
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
      functionArn,
      condition,
      approximateInvokeCount: invokeCount,
    },
    responseContext: {
      statusCode: 200,
      executedVersion: '$LATEST',
      functionError: error ? 'Unhandled' : undefined,
    },
    version: '1.0',
    timestamp: now.toISOString(),
    KafkaBatchInfo: {
      batchSize: 1,
      bootstrapServers: bootstrapServers.join(','),
      consumerGroupId: mapping.groupId,
      payloadSize: Buffer.byteLength(JSON.stringify(payload)),
      recordsInfo: {
        [`${record.topic}-${record.partition}`]: {
          firstRecordOffset: String(record.offset),
          lastRecordOffset: String(record.offset),
          firstRecordTimestamp: new Date(record.timestamp).toISOString(),
          lastRecordTimestamp: new Date(record.timestamp).toISOString(),
        },
      },
    },
    payload,
  };
  return {
    key: record.key === undefined ? null : Buffer.from(record.key, 'base64'),
    value: JSON.stringify(envelope),
  };
};

module.exports = { failureMessage };
