// @ts-check
'use strict';

const { inflateSync } = require('node:zlib');

/**
 * The registries' wire formats: how a serializer frames a key or value with its schema's id.
 * - Confluent (and Apicurio's Confluent-compatible serdes): byte 0 = 0 (magic), bytes 1..4 = the
 *   schema id, big-endian; then the payload. For Protobuf the payload starts with the message
 *   indexes (Confluent's "Wire format"): they stay in the payload, as AWS delivers them in
 *   SOURCE mode (Powertools' `protobuf-complex.confluent.json` starts 0x02 0x02).
 * - AWS Glue (awslabs/aws-glue-schema-registry AWSSchemaRegistryConstants): byte 0 = 3 (header
 *   version), byte 1 = compression (0 none, 5 zlib), bytes 2..17 = the schema version's UUID;
 *   then the payload, zlib-compressed when byte 1 is 5. For Protobuf the payload starts with one
 *   varint message index (ProtobufWireFormatEncoder), kept as AWS keeps it (Powertools'
 *   `protobuf-complex.glue.json` starts 0x01).
 */

const CONFLUENT_MAGIC = 0;
const CONFLUENT_HEADER_BYTES = 5;
const GLUE_HEADER_VERSION = 3;
const GLUE_NO_COMPRESSION = 0;
const GLUE_ZLIB = 5;
const GLUE_HEADER_BYTES = 18;
/** A Glue payload may inflate to at most this: a record cannot exceed Lambda's 6 MB anyway. */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/**
 * @typedef {{ schemaId: string, payload: Buffer }} Frame
 * @typedef {{ error: string }} FrameError
 */

/**
 * @param {Buffer} bytes
 * @returns {Frame | FrameError}
 */
const confluentFrame = (bytes) => {
  if (bytes.length < CONFLUENT_HEADER_BYTES || bytes[0] !== CONFLUENT_MAGIC) {
    return {
      error: `not in the Confluent wire format (magic byte 0, then a 4-byte schema id); starts with ${bytes.subarray(0, 5).toString('hex') || 'nothing'}`,
    };
  }
  return {
    schemaId: String(bytes.readUInt32BE(1)),
    payload: bytes.subarray(CONFLUENT_HEADER_BYTES),
  };
};

/** @param {Buffer} b 16 bytes */
const uuidOf = (b) => {
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

/**
 * @param {Buffer} bytes
 * @returns {Frame | FrameError}
 */
const glueFrame = (bytes) => {
  if (
    bytes.length < GLUE_HEADER_BYTES ||
    bytes[0] !== GLUE_HEADER_VERSION ||
    (bytes[1] !== GLUE_NO_COMPRESSION && bytes[1] !== GLUE_ZLIB)
  ) {
    return {
      error: `not in the AWS Glue wire format (header version 3, compression 0 or 5, a 16-byte schema version id); starts with ${bytes.subarray(0, 2).toString('hex') || 'nothing'}`,
    };
  }
  const schemaId = uuidOf(bytes.subarray(2, GLUE_HEADER_BYTES));
  const body = bytes.subarray(GLUE_HEADER_BYTES);
  if (bytes[1] === GLUE_NO_COMPRESSION) return { schemaId, payload: body };
  try {
    return { schemaId, payload: inflateSync(body, { maxOutputLength: MAX_INFLATED_BYTES }) };
  } catch (error) {
    return {
      error: `its zlib-compressed AWS Glue payload does not inflate: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
};

/**
 * The framing of a registry kind.
 * @param {'confluent' | 'glue'} kind
 */
const frameOf = (kind) => (kind === 'glue' ? glueFrame : confluentFrame);

module.exports = { confluentFrame, frameOf, glueFrame, uuidOf };
