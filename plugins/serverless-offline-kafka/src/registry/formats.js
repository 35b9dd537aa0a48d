// @ts-check
'use strict';

/**
 * Decoders for the three formats AWS's mapping validates (services-consume-kafka-events: Avro,
 * Protobuf, JSON Schema), compiled once per schema: each turns a payload (the bytes after the
 * registry's framing) into its JSON form, and says which bytes SOURCE mode delivers.
 *
 * How AWS renders each format as JSON is not documented beyond "a standard JSON object"; what
 * this does (listed in the README's known differences):
 * - Avro: the decoded datum, unions unwrapped (`{"a": "x"}`, not `{"a": {"string": "x"}}`),
 *   `bytes` and `fixed` as strings of code points 0..255 (Avro's JSON encoding), logical types
 *   as their underlying type;
 * - Protobuf: the proto3 JSON mapping (lowerCamelCase names, 64-bit integers and enums as
 *   strings, bytes as base64, fields at their default value left out);
 * - JSON Schema: the JSON text itself, after validation against the schema (formats are not
 *   checked).
 */

const { Type: AvroType } = require('avsc');
const protobuf = require('protobufjs');

/**
 * @typedef {'AVRO' | 'PROTOBUF' | 'JSON'} DataFormat
 * @typedef {{ json: unknown, source: Buffer }} Decoded `source`: the bytes SOURCE mode delivers.
 * @typedef {{ dataFormat: DataFormat, decode: (payload: Buffer) => Decoded }} Decoder
 *   `decode` throws when the payload does not match the schema.
 */

/**
 * A decoded Avro datum as plain JSON values (Buffers as Avro's JSON encoding writes bytes).
 * @param {unknown} v
 * @returns {unknown}
 */
const plainAvro = (v) => {
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (Array.isArray(v)) return v.map(plainAvro);
  if (v !== null && typeof v === 'object') {
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = plainAvro(x);
    return out;
  }
  return v;
};

/**
 * @param {string} text the schema as the registry returns it
 * @returns {Decoder}
 */
const avroDecoder = (text) => {
  const schema = JSON.parse(text);
  const type = AvroType.forSchema(schema, { wrapUnions: false });
  // Only `bytes` and `fixed` decode to something JSON does not write as Avro's JSON encoding
  // does; without them the datum is JSON as it is (a field named "bytes" only costs the walk).
  const plain = /"(?:bytes|fixed)"/.test(JSON.stringify(schema))
    ? plainAvro
    : (/** @type {unknown} */ v) => v;
  return {
    dataFormat: 'AVRO',
    // fromBuffer throws on truncated data and on trailing bytes.
    decode: (payload) => ({ json: plain(type.fromBuffer(payload)), source: payload }),
  };
};

/**
 * A varint at `offset`.
 * @param {Buffer} b
 * @param {number} offset
 */
const readVarint = (b, offset) => {
  let value = 0;
  let shift = 0;
  let i = offset;
  for (;;) {
    if (i >= b.length || shift > 28)
      throw new Error('truncated or oversized varint in the message indexes');
    const byte = /** @type {number} */ (b[i]);
    value |= (byte & 0x7f) << shift;
    i += 1;
    if ((byte & 0x80) === 0) return { value: value >>> 0, next: i };
    shift += 7;
  }
};

/** @param {number} n */
const zigzag = (n) => (n >>> 1) ^ -(n & 1);

/** @param {protobuf.NamespaceBase} ns */
const messagesOf = (ns) =>
  /** @type {protobuf.Type[]} */ (ns.nestedArray.filter((n) => n instanceof protobuf.Type));

/** @param {protobuf.Type} type */
const toJson = (type) => (/** @type {protobuf.Message} */ message) =>
  type.toObject(message, { longs: String, enums: String, bytes: String, json: true });

/**
 * Protobuf, in the Confluent framing: the payload starts with the message indexes (a zigzag
 * varint count, then that many zigzag varint indexes: a path from the file's top-level messages
 * down nested ones; a single 0 byte means the first message).
 * @param {protobuf.NamespaceBase} top
 * @returns {(payload: Buffer) => Decoded}
 */
const confluentProtobuf = (top) => (payload) => {
  let { value: count, next } = readVarint(payload, 0);
  count = zigzag(count);
  const path = [];
  if (count === 0) path.push(0);
  for (let i = 0; i < count; i++) {
    const read = readVarint(payload, next);
    path.push(zigzag(read.value));
    next = read.next;
  }
  /** @type {protobuf.NamespaceBase} */
  let ns = top;
  /** @type {protobuf.Type | undefined} */
  let type;
  for (const index of path) {
    type = messagesOf(ns)[index];
    if (!type) throw new Error(`message index ${path.join('.')} is not in the schema`);
    ns = type;
  }
  const t = /** @type {protobuf.Type} */ (type);
  return { json: toJson(t)(t.decode(payload.subarray(next))), source: payload };
};

/**
 * Protobuf, in the Glue framing: the payload starts with one varint, the message's index among
 * every message of the file (top-level and nested, level by level) sorted by full name
 * (awslabs/aws-glue-schema-registry MessageIndexFinder).
 * @param {protobuf.NamespaceBase} top
 * @returns {(payload: Buffer) => Decoded}
 */
const glueProtobuf = (top) => {
  /** @type {protobuf.Type[]} */
  const all = [];
  const queue = [...messagesOf(top)];
  while (queue.length > 0) {
    const type = /** @type {protobuf.Type} */ (queue.shift());
    all.push(type);
    queue.push(...messagesOf(type));
  }
  const name = (/** @type {protobuf.Type} */ t) => t.fullName.replace(/^\./, '');
  all.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
  return (payload) => {
    const { value, next } = readVarint(payload, 0);
    const type = all[value];
    if (!type) throw new Error(`message index ${value} is not in the schema`);
    return { json: toJson(type)(type.decode(payload.subarray(next))), source: payload };
  };
};

/**
 * @param {string} text the `.proto` file as the registry returns it
 * @param {'confluent' | 'glue'} framing
 * @returns {Decoder}
 */
const protobufDecoder = (text, framing) => {
  const parsed = protobuf.parse(text);
  parsed.root.resolveAll();
  const top = parsed.package ? parsed.root.lookup(parsed.package) : parsed.root;
  if (!(top instanceof protobuf.Namespace) || messagesOf(top).length === 0)
    throw new Error('the Protobuf schema declares no message');
  return {
    dataFormat: 'PROTOBUF',
    decode: framing === 'glue' ? glueProtobuf(top) : confluentProtobuf(top),
  };
};

/** Ajv for a schema's `$schema` (draft-07 when it names none, as Confluent's serdes default). */
const ajvFor = (/** @type {unknown} */ dialect) => {
  const options = { strict: false, validateFormats: false, allErrors: false };
  const text = String(dialect ?? '');
  if (text.includes('2020-12')) {
    const Ajv2020 = require('ajv/dist/2020').default;
    return new Ajv2020(options);
  }
  if (text.includes('2019-09')) {
    const Ajv2019 = require('ajv/dist/2019').default;
    return new Ajv2019(options);
  }
  const Ajv = require('ajv').default;
  return new Ajv(options);
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * @param {string} text the JSON schema as the registry returns it
 * @returns {Decoder}
 */
const jsonSchemaDecoder = (text) => {
  const schema = JSON.parse(text);
  const validate = ajvFor(schema?.$schema).compile(schema);
  return {
    dataFormat: 'JSON',
    decode: (payload) => {
      const json = JSON.parse(utf8.decode(payload));
      if (!validate(json)) {
        const [first] = validate.errors ?? [];
        throw new Error(
          `does not match its JSON schema: ${first ? `${first.instancePath || '/'} ${first.message}` : 'invalid'}`,
        );
      }
      return { json, source: payload };
    },
  };
};

/**
 * Compiles a schema the registry returned.
 * @param {DataFormat} format
 * @param {string} text
 * @param {'confluent' | 'glue'} framing
 * @returns {Decoder}
 */
const compileSchema = (format, text, framing) => {
  switch (format) {
    case 'AVRO':
      return avroDecoder(text);
    case 'PROTOBUF':
      return protobufDecoder(text, framing);
    case 'JSON':
      return jsonSchemaDecoder(text);
    default:
      throw new Error(`unknown schema format ${JSON.stringify(format)}`);
  }
};

module.exports = { compileSchema };
