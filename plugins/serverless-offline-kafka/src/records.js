// @ts-check
'use strict';

const { AsyncLocalStorage } = require('node:async_hooks');
const { CODECS, decompress } = require('./compression');
const { RecordBatchError } = require('./errors');
const { messageOf } = require('./util');

/**
 * Decodes Kafka record batches (message format v2) from a fetch response, for the emulator's
 * consumer. kafkajs's own decoder folds each record's headers into an object (losing their order
 * across names, mangling names such as `constructor` or `__proto__`) and decodes only gzip;
 * AWS's event source hands every header over as produced and every codec. This decoder keeps
 * each record's headers as an ordered list of `[name, value]` (`value` null for a null header),
 * decompresses gzip, snappy, lz4 and zstd, and never throws for a batch it cannot decode: it
 * returns one `undecodable` marker record at the batch's first offset instead, so that one bad
 * batch stops only its own partition (kafkajs would fail the whole fetch, every partition of it).
 *
 * It returns records in kafkajs's shape (string offsets and timestamps, `headers` folded as
 * kafkajs folds them, `batchContext`), so that kafkajs's batch logic (offset filtering,
 * aborted transactions, control records) runs unchanged. `install` puts it in kafkajs's place
 * for the plugin's own consumers (`withDecoder`).
 */

const TIMESTAMP_TYPE_FLAG = 0x08;
const TRANSACTIONAL_FLAG = 0x10;
const CONTROL_FLAG = 0x20;
const CODEC_MASK = 0x07;
/** baseOffset (8) + batchLength (4): what precedes the part `batchLength` counts. */
const LOG_OVERHEAD = 12;
/** Bytes from the batch start to its first record (the v2 batch header and record count). */
const RECORDS_START = 61;

/**
 * @typedef {[name: string, value: Buffer | null]} RawHeader
 * @typedef {{
 *   magicByte: number,
 *   attributes: number,
 *   timestamp: string,
 *   offset: string,
 *   key: Buffer | null,
 *   value: Buffer | null,
 *   headers: Record<string, Buffer | null | (Buffer | null)[]>,
 *   headerList: RawHeader[],
 *   isControlRecord: boolean,
 *   batchContext: Record<string, unknown>,
 *   undecodable?: string,
 * }} DecodedRecord `undecodable` says why a batch could not be decoded (the marker record).
 */

class Reader {
  /** @param {Buffer} buffer @param {number} offset @param {number} end */
  constructor(buffer, offset, end) {
    this.buffer = buffer;
    this.offset = offset;
    this.end = end;
  }

  /** A zigzag varint of up to 64 bits, as a JS number (exact below 2^53). */
  varint() {
    let value = 0;
    let factor = 1;
    for (let i = 0; i < 10; i++) {
      if (this.offset >= this.end) throw new RecordBatchError('record ends inside a varint');
      const b = /** @type {number} */ (this.buffer[this.offset++]);
      value += (b & 0x7f) * factor;
      if (b < 0x80) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      factor *= 128;
    }
    throw new RecordBatchError('varint longer than 10 bytes');
  }

  /** @param {number} length */
  bytes(length) {
    if (length < 0) return null;
    if (this.offset + length > this.end) throw new RecordBatchError('record ends inside a field');
    const out = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }
}

/**
 * kafkajs's folding of headers into an object, kept for whatever else reads `headers`; built on
 * a null-prototype object so that no header name can reach Object.prototype.
 * @param {RawHeader[]} list
 */
const foldHeaders = (list) => {
  /** @type {Record<string, Buffer | null | (Buffer | null)[]>} */
  const folded = Object.create(null);
  for (const [name, value] of list) {
    const seen = folded[name];
    if (seen === undefined) folded[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else folded[name] = [seen, value];
  }
  return folded;
};

/**
 * The records of one batch's (decompressed) record section.
 * @param {Buffer} buffer
 * @param {number} start
 * @param {number} end
 * @param {number} count
 * @param {{ baseOffset: number, baseTimestamp: number, logAppendTime: number | undefined, control: boolean, context: Record<string, unknown> }} batch
 * @returns {DecodedRecord[]}
 */
const decodeRecords = (buffer, start, end, count, batch) => {
  const reader = new Reader(buffer, start, end);
  /** @type {DecodedRecord[]} */
  const records = new Array(count);
  for (let i = 0; i < count; i++) {
    const length = reader.varint();
    const recordEnd = reader.offset + length;
    if (length < 0 || recordEnd > end) throw new RecordBatchError(`record ${i} overruns its batch`);
    // The record's fields are read within its own bounds.
    const r = reader;
    r.end = recordEnd;
    const attributes = /** @type {number} */ (buffer[r.offset++]);
    const timestampDelta = r.varint();
    const offsetDelta = r.varint();
    const key = r.bytes(r.varint());
    const value = r.bytes(r.varint());
    const headerCount = r.varint();
    /** @type {RawHeader[]} */
    const headerList = [];
    for (let h = 0; h < headerCount; h++) {
      const name = r.bytes(r.varint());
      headerList.push([name === null ? '' : name.toString('utf8'), r.bytes(r.varint())]);
    }
    r.offset = recordEnd;
    r.end = end;
    records[i] = {
      magicByte: 2,
      attributes,
      timestamp: String(batch.logAppendTime ?? batch.baseTimestamp + timestampDelta),
      offset: String(batch.baseOffset + offsetDelta),
      key,
      value,
      headers: headerList.length === 0 ? {} : foldHeaders(headerList),
      headerList,
      isControlRecord: batch.control,
      batchContext: batch.context,
    };
  }
  return records;
};

/**
 * Decodes the batch at the reader's position and moves past it. Throws kafkajs's
 * `KafkaJSPartialMessageError` (given as `PartialError`) for a batch cut short by the fetch's
 * byte limit, as kafkajs's decoder does; returns a marker record for any other failure.
 * @param {{ buffer: Buffer, offset: number }} fetchDecoder kafkajs's Decoder
 * @param {new (message: string) => Error} PartialError
 */
const decodeBatch = async (fetchDecoder, PartialError) => {
  const buffer = fetchDecoder.buffer;
  const start = fetchDecoder.offset;
  if (start + LOG_OVERHEAD > buffer.length) throw new PartialError('partial record batch header');
  const length = buffer.readInt32BE(start + 8);
  const end = start + LOG_OVERHEAD + length;
  if (end > buffer.length || length < RECORDS_START - LOG_OVERHEAD) {
    throw new PartialError(
      `Tried to decode a partial record batch: remainingBytes(${buffer.length - start - LOG_OVERHEAD}) < recordBatchLength(${length})`,
    );
  }
  fetchDecoder.offset = end;
  const baseOffset = Number(buffer.readBigInt64BE(start));
  const attributes = buffer.readInt16BE(start + 21);
  const lastOffsetDelta = buffer.readInt32BE(start + 23);
  const baseTimestamp = Number(buffer.readBigInt64BE(start + 27));
  const maxTimestamp = Number(buffer.readBigInt64BE(start + 35));
  const context = {
    firstOffset: String(baseOffset),
    firstTimestamp: String(baseTimestamp),
    partitionLeaderEpoch: buffer.readInt32BE(start + 12),
    inTransaction: (attributes & TRANSACTIONAL_FLAG) !== 0,
    isControlBatch: (attributes & CONTROL_FLAG) !== 0,
    lastOffsetDelta,
    producerId: buffer.readBigInt64BE(start + 43).toString(),
    producerEpoch: buffer.readInt16BE(start + 51),
    firstSequence: buffer.readInt32BE(start + 53),
    maxTimestamp: String(maxTimestamp),
    timestampType: (attributes & TIMESTAMP_TYPE_FLAG) !== 0 ? 1 : 0,
    magicByte: 2,
  };
  const count = buffer.readInt32BE(start + 57);
  const codec = attributes & CODEC_MASK;
  const batch = {
    baseOffset,
    baseTimestamp,
    logAppendTime: context.timestampType === 1 ? maxTimestamp : undefined,
    control: context.isControlBatch,
    context,
  };
  try {
    if (count < 0) throw new RecordBatchError(`negative record count ${count}`);
    const records =
      codec === 0
        ? decodeRecords(buffer, start + RECORDS_START, end, count, batch)
        : await (async () => {
            const plain = await decompress(codec, buffer.subarray(start + RECORDS_START, end));
            return decodeRecords(plain, 0, plain.length, count, batch);
          })();
    return { ...context, records };
  } catch (error) {
    const why = `${CODECS[codec] ?? `codec ${codec}`} batch at offsets ${baseOffset}..${baseOffset + lastOffsetDelta} cannot be decoded: ${messageOf(error)}`;
    /** @type {DecodedRecord} */
    const marker = {
      magicByte: 2,
      attributes: 0,
      timestamp: String(baseTimestamp),
      offset: String(baseOffset),
      key: null,
      value: null,
      headers: {},
      headerList: [],
      isControlRecord: false,
      batchContext: context,
      undecodable: why,
    };
    return { ...context, records: [marker] };
  }
};

/** Set while the plugin's own consumers run: only their fetches use `decodeBatch`. */
const scope = new AsyncLocalStorage();

/**
 * Runs `start` (a kafkajs `consumer.run`) so that the record batches fetched by the consumer it
 * starts are decoded by `decodeBatch`. kafkajs's fetch loops, and so their response decoding,
 * descend from `run`, and AsyncLocalStorage follows them; every other kafkajs client in the
 * process (another plugin, a function run with `--useInProcess`) keeps kafkajs's own decoder.
 * @template T
 * @param {() => T} start
 * @returns {T}
 */
const withDecoder = (start) => scope.run(true, start);

/** The kafkajs versions whose internal module layout `install` was written against. */
const KAFKAJS_VERSIONS = /^2\.\d+\.\d+$/;
const DECODER_MODULE = 'kafkajs/src/protocol/recordBatch/v0/decoder.js';
const FETCH_MODULE = 'kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js';

/**
 * Puts a dispatcher in the place of kafkajs's record batch decoder (in Node's module cache,
 * before kafkajs's fetch code first loads it): within `withDecoder` it decodes with
 * `decodeBatch`, elsewhere it calls kafkajs's own decoder. kafkajs has no hook for this; the
 * module path and its contract (`async (decoder) => ({ ...batchContext, records })`) are those
 * of kafkajs 2.x, so any other version, a layout that moved, or kafkajs's fetch code loaded
 * before this (its decoder already captured) leaves kafkajs's decoder alone and says why. The
 * swap applies to the kafkajs copy this plugin resolves (the project's, as a peer dependency).
 * @param {NodeJS.Require} [req]
 * @returns {{ installed: true } | { installed: false, reason: string }}
 */
const install = (req = require) => {
  try {
    const { version } = req('kafkajs/package.json');
    if (!KAFKAJS_VERSIONS.test(String(version)))
      return { installed: false, reason: `kafkajs ${version} is not a 2.x release` };
    const path = req.resolve(DECODER_MODULE);
    const fetchPath = req.resolve(FETCH_MODULE);
    const original = req(path);
    const entry = req.cache[path];
    if (!entry || typeof original !== 'function')
      return { installed: false, reason: `kafkajs ${version} has no record batch decoder module` };
    if (original.emulatorDecoder === true) return { installed: true };
    if (req.cache[fetchPath] !== undefined)
      return { installed: false, reason: 'kafkajs fetched records before this plugin loaded' };
    const { KafkaJSPartialMessageError } = req('kafkajs/src/errors.js');
    /** @param {{ buffer: Buffer, offset: number }} decoder */
    const dispatcher = (decoder) =>
      scope.getStore() === true
        ? decodeBatch(decoder, KafkaJSPartialMessageError)
        : original(decoder);
    dispatcher.emulatorDecoder = true;
    entry.exports = dispatcher;
    return { installed: true };
  } catch (error) {
    return {
      installed: false,
      reason: `kafkajs's internals are not where expected (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
    };
  }
};

module.exports = { decodeBatch, foldHeaders, install, withDecoder };
