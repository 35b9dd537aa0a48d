// @ts-check
'use strict';

/**
 * The Lambda event for Kafka records, exactly as AWS's event source mapping builds it
 * (`@types/aws-lambda` `MSKEvent` / `SelfManagedKafkaEvent`):
 * - MSK: `eventSource: "aws:kafka"` with `eventSourceArn`; self-managed: `"SelfManagedKafka"`
 *   and no ARN.
 * - `bootstrapServers` is one comma-joined string.
 * - `records` maps `<topic>-<partition>` to that partition's records in offset order.
 * - `partition`, `offset` and `timestamp` (epoch ms) are numbers; `key` and `value` are base64;
 *   a null key is left out (our reading of AWS; unverified), a tombstone has `"value": null`.
 * - `headers` is an array of one-entry objects, one per header in record order (a repeated name
 *   gives several objects), whose values are signed bytes (-128..127), as Java's `byte[]`
 *   serializes. A header with a null value arrives as `{}` (its name is lost): AWS's serializer
 *   leaves null map values out (seen in real events, Nike-Inc/hal#144).
 */

/** Lambda's synchronous invocation payload limit. */
const MAX_EVENT_BYTES = 6 * 1024 * 1024;

const TIMESTAMP_TYPES = /** @type {const} */ (['CREATE_TIME', 'LOG_APPEND_TIME']);

/**
 * @typedef {{ [name: string]: number[] }} LambdaKafkaHeader
 * @typedef {{
 *   topic: string,
 *   partition: number,
 *   offset: number,
 *   timestamp: number,
 *   timestampType: 'CREATE_TIME' | 'LOG_APPEND_TIME',
 *   key?: string,
 *   value: string | null,
 *   headers: LambdaKafkaHeader[],
 *   keySchemaMetadata?: SchemaMetadata,
 *   valueSchemaMetadata?: SchemaMetadata,
 * }} LambdaKafkaRecord `*SchemaMetadata`: only with a schema registry (services-consume-kafka-events).
 * @typedef {{ dataFormat: 'AVRO' | 'PROTOBUF' | 'JSON', schemaId: string }} SchemaMetadata
 * @typedef {{
 *   eventSource: 'aws:kafka' | 'SelfManagedKafka',
 *   eventSourceArn?: string,
 *   bootstrapServers: string,
 *   records: Record<string, LambdaKafkaRecord[]>,
 * }} LambdaKafkaEvent
 * @typedef {{ kind: 'msk', arn: string } | { kind: 'kafka' }} EventSourceKind
 * @typedef {{
 *   key: Buffer | null,
 *   value: Buffer | null,
 *   offset: string,
 *   timestamp: string,
 *   headers?: { [name: string]: Buffer | string | null | (Buffer | string | null)[] | undefined },
 *   headerList?: readonly (readonly [string, Buffer | null])[],
 *   batchContext?: { timestampType?: number },
 * }} KafkaMessageLike `headerList` (from this plugin's record decoder) holds every header in
 *   record order; without it, kafkajs's folded `headers` are used.
 */

/**
 * Java bytes are signed: 0xC3 is -61.
 * @param {Buffer | string | null | undefined} value
 * @returns {number[]}
 */
const signedBytes = (value) => {
  if (value === null || value === undefined) return [];
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Array.from(bytes, (b) => (b > 127 ? b - 256 : b));
};

/**
 * One header as AWS writes it: `{ name: signedBytes }`, or `{}` for a null value. The name is
 * defined as an own property, so that `__proto__` is a header like any other.
 * @param {string} name
 * @param {Buffer | string | null | undefined} value
 * @returns {LambdaKafkaHeader}
 */
const lambdaHeader = (name, value) => {
  /** @type {LambdaKafkaHeader} */
  const header = {};
  if (value === null || value === undefined) return header;
  Object.defineProperty(header, name, {
    value: signedBytes(value),
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return header;
};

/**
 * AWS sends one object per header, in record order. From the plugin's decoder, `headerList` has
 * that order; kafkajs's folded `headers` (a fallback) keep only the order within one name.
 * @param {KafkaMessageLike['headers']} headers
 * @param {KafkaMessageLike['headerList']} [headerList]
 * @returns {LambdaKafkaHeader[]}
 */
const toLambdaHeaders = (headers, headerList) => {
  /** @type {LambdaKafkaHeader[]} */
  const out = [];
  if (headerList) {
    for (const [name, value] of headerList) out.push(lambdaHeader(name, value));
    return out;
  }
  for (const [name, value] of Object.entries(headers ?? {})) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) out.push(lambdaHeader(name, v));
  }
  return out;
};

/**
 * One Kafka record in Lambda's shape.
 * @param {string} topic
 * @param {number} partition
 * @param {KafkaMessageLike} message
 * @returns {LambdaKafkaRecord}
 */
const toLambdaRecord = (topic, partition, message) => {
  const hasKey = message.key !== null && message.key !== undefined;
  /** @type {LambdaKafkaRecord} */
  const record = {
    topic,
    partition,
    offset: Number(message.offset),
    timestamp: Number(message.timestamp),
    timestampType: TIMESTAMP_TYPES[message.batchContext?.timestampType ?? 0] ?? 'CREATE_TIME',
    ...(hasKey ? { key: message.key?.toString('base64') } : {}),
    value:
      message.value === null || message.value === undefined
        ? null
        : message.value.toString('base64'),
    headers: toLambdaHeaders(message.headers, message.headerList),
  };
  return record;
};

/**
 * Builds the event. Records are grouped by `<topic>-<partition>`, each group in offset order.
 * @param {EventSourceKind} source
 * @param {readonly string[]} bootstrapServers
 * @param {readonly LambdaKafkaRecord[]} records
 * @returns {LambdaKafkaEvent}
 */
const buildEvent = (source, bootstrapServers, records) => {
  /** @type {Record<string, LambdaKafkaRecord[]>} */
  const grouped = {};
  for (const record of records) {
    const key = `${record.topic}-${record.partition}`;
    const group = grouped[key] ?? [];
    group.push(record);
    grouped[key] = group;
  }
  for (const group of Object.values(grouped)) group.sort((a, b) => a.offset - b.offset);
  return source.kind === 'msk'
    ? {
        eventSource: 'aws:kafka',
        eventSourceArn: source.arn,
        bootstrapServers: bootstrapServers.join(','),
        records: grouped,
      }
    : {
        eventSource: 'SelfManagedKafka',
        bootstrapServers: bootstrapServers.join(','),
        records: grouped,
      };
};

/** @param {string} text */
const jsonStringBytes = (text) => Buffer.byteLength(JSON.stringify(text));

/** @param {number} n a number as JSON writes it (`null` when not finite) */
const jsonNumberBytes = (n) => (Number.isFinite(n) ? String(n).length : 4);

/** @param {number} b a signed byte, -128..127 */
const signedByteDigits = (b) =>
  b < 0 ? (b <= -100 ? 4 : b <= -10 ? 3 : 2) : b >= 100 ? 3 : b >= 10 ? 2 : 1;

/** @param {LambdaKafkaHeader[]} headers */
const headersBytes = (headers) => {
  let bytes = 2 + Math.max(0, headers.length - 1); // [...] and commas between headers
  for (const header of headers) {
    const entries = Object.entries(header);
    bytes += 2 + Math.max(0, entries.length - 1); // {...} and commas between entries
    for (const [name, values] of entries) {
      bytes += jsonStringBytes(name) + 1 + 2 + Math.max(0, values.length - 1); // "name":[...]
      for (const b of values) bytes += signedByteDigits(b);
    }
  }
  return bytes;
};

/**
 * Bytes of a `,"<name>":{...}` schema metadata field, 0 without it.
 * @param {string} name
 * @param {SchemaMetadata | undefined} metadata
 */
const schemaMetadataBytes = (name, metadata) => {
  if (metadata === undefined) return 0;
  let bytes = metadataBytes.get(metadata);
  if (bytes === undefined) {
    bytes = Buffer.byteLength(JSON.stringify(metadata));
    metadataBytes.set(metadata, bytes);
  }
  return name.length + 4 + bytes;
};
/** Serialized sizes of metadata objects, which records of one schema share. */
/** @type {WeakMap<SchemaMetadata, number>} */
const metadataBytes = new WeakMap();

/**
 * Bytes a record adds to the serialized event: its JSON plus a separating comma. Counted field
 * by field rather than serialized (the emulator does this for every record it reads); equal to
 * `Buffer.byteLength(JSON.stringify(record)) + 1` for records built by `toLambdaRecord`, whose
 * key and value are base64 (no escapes) and whose header bytes are -128..127.
 * @param {LambdaKafkaRecord} record
 */
const recordBytes = (record) =>
  '{"topic":'.length +
  jsonStringBytes(record.topic) +
  ',"partition":'.length +
  jsonNumberBytes(record.partition) +
  ',"offset":'.length +
  jsonNumberBytes(record.offset) +
  ',"timestamp":'.length +
  jsonNumberBytes(record.timestamp) +
  ',"timestampType":'.length +
  jsonStringBytes(record.timestampType) +
  (record.key === undefined ? 0 : ',"key":'.length + record.key.length + 2) +
  ',"value":'.length +
  (record.value === null ? 4 : record.value.length + 2) +
  ',"headers":'.length +
  headersBytes(record.headers) +
  schemaMetadataBytes('keySchemaMetadata', record.keySchemaMetadata) +
  schemaMetadataBytes('valueSchemaMetadata', record.valueSchemaMetadata) +
  '}'.length +
  1;

/**
 * Bytes one `"<topic>-<partition>":[...],` group adds to an event, at most.
 * @param {string} topic
 */
const groupKeyBytes = (topic) => Buffer.byteLength(JSON.stringify(`${topic}-2147483647`)) + 3;

/**
 * Bytes of an event holding no records, plus room for the group keys of `partitions` groups.
 * @param {EventSourceKind} source
 * @param {readonly string[]} bootstrapServers
 * @param {string} topic
 * @param {number} [partitions]
 */
const envelopeBytes = (source, bootstrapServers, topic, partitions = 1) =>
  Buffer.byteLength(JSON.stringify(buildEvent(source, bootstrapServers, []))) +
  partitions * groupKeyBytes(topic);

module.exports = {
  MAX_EVENT_BYTES,
  buildEvent,
  envelopeBytes,
  groupKeyBytes,
  recordBytes,
  signedBytes,
  toLambdaHeaders,
  toLambdaRecord,
};
