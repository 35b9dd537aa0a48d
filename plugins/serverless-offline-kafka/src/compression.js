// @ts-check
'use strict';

const zlib = require('node:zlib');
const { promisify } = require('node:util');
const { CompressionError } = require('./errors');
const { messageOf } = require('./util');

/**
 * Decompression of Kafka record batches: gzip, snappy, lz4 and zstd, the codecs a record batch's
 * attributes name (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd). AWS's event source (a Java Kafka
 * consumer) delivers all of them; kafkajs alone decodes only gzip. Snappy and LZ4 are decoded
 * here (both formats are small); zstd by Node's zlib where it has it (22.15+), else by `fzstd`.
 *
 * Every decoder bounds its output (`MAX_DECOMPRESSED_BYTES`), so a malformed or hostile batch
 * gives an error rather than exhausting memory, and throws `CompressionError` with what is wrong.
 */

/** Far above any batch a broker accepts (`message.max.bytes` is 1 MB by default). */
const MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024;

const CODECS = /** @type {const} */ (['none', 'gzip', 'snappy', 'lz4', 'zstd']);

const gunzip = promisify(zlib.gunzip);

/**
 * @param {Buffer} input
 * @returns {Promise<Buffer>}
 */
const gzip = async (input) => {
  try {
    return await gunzip(input, { maxOutputLength: MAX_DECOMPRESSED_BYTES });
  } catch (error) {
    throw new CompressionError(`gzip: ${messageOf(error)}`, { cause: error });
  }
};

/** A byte buffer that grows as it is written, bounded by MAX_DECOMPRESSED_BYTES. */
class Output {
  /** @param {number} initial */
  constructor(initial) {
    this.bytes = Buffer.allocUnsafe(Math.max(64, Math.min(initial, MAX_DECOMPRESSED_BYTES)));
    this.length = 0;
  }

  /** @param {number} more */
  reserve(more) {
    const needed = this.length + more;
    if (needed > MAX_DECOMPRESSED_BYTES)
      throw new CompressionError(`decompressed batch larger than ${MAX_DECOMPRESSED_BYTES} bytes`);
    if (needed <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(
      Math.min(MAX_DECOMPRESSED_BYTES, Math.max(needed, this.bytes.length * 2)),
    );
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  /** Copies `length` bytes from `offset` bytes back (the source may overlap the destination). */
  /** @param {number} offset @param {number} length @param {string} codec */
  copyBack(offset, length, codec) {
    if (offset <= 0 || offset > this.length)
      throw new CompressionError(`${codec}: back-reference ${offset} outside the output`);
    this.reserve(length);
    const out = this.bytes;
    let from = this.length - offset;
    let to = this.length;
    if (offset >= length) {
      out.copy(out, to, from, from + length);
    } else {
      for (const end = to + length; to < end; ) out[to++] = /** @type {number} */ (out[from++]);
    }
    this.length += length;
  }

  /** @param {Buffer} source @param {number} start @param {number} end */
  append(source, start, end) {
    this.reserve(end - start);
    source.copy(this.bytes, this.length, start, end);
    this.length += end - start;
  }

  result() {
    return this.bytes.subarray(0, this.length);
  }
}

/** The first 8 bytes of snappy-java's stream format (what Java producers write). */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

/**
 * One raw snappy block (as librdkafka and Go producers write it) appended to `out`.
 * @param {Buffer} input
 * @param {number} start
 * @param {number} end
 * @param {Output} out
 */
const snappyBlock = (input, start, end, out) => {
  let pos = start;
  // Preamble: the uncompressed length, a little-endian base-128 varint.
  let expected = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= end || shift > 28) throw new CompressionError('snappy: bad length preamble');
    const b = input[pos++] ?? 0;
    expected += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  const before = out.length;
  out.reserve(expected);
  while (pos < end) {
    const tag = input[pos++] ?? 0;
    const type = tag & 3;
    if (type === 0) {
      let length = tag >>> 2;
      if (length >= 60) {
        const bytes = length - 59;
        if (pos + bytes > end) throw new CompressionError('snappy: truncated literal length');
        length = input.readUIntLE(pos, bytes);
        pos += bytes;
      }
      length += 1;
      if (pos + length > end) throw new CompressionError('snappy: truncated literal');
      out.append(input, pos, pos + length);
      pos += length;
    } else if (type === 1) {
      if (pos >= end) throw new CompressionError('snappy: truncated copy');
      const length = ((tag >>> 2) & 7) + 4;
      const offset = ((tag >>> 5) << 8) | (input[pos++] ?? 0);
      out.copyBack(offset, length, 'snappy');
    } else {
      const bytes = type === 2 ? 2 : 4;
      if (pos + bytes > end) throw new CompressionError('snappy: truncated copy');
      const offset = input.readUIntLE(pos, bytes);
      pos += bytes;
      out.copyBack(offset, (tag >>> 2) + 1, 'snappy');
    }
  }
  if (out.length - before !== expected)
    throw new CompressionError(
      `snappy: block decoded to ${out.length - before} bytes, announced ${expected}`,
    );
};

/**
 * Snappy as Kafka producers write it: snappy-java's framing (Java), or one raw block
 * (librdkafka, Go).
 * @param {Buffer} input
 */
const snappy = (input) => {
  const out = new Output(input.length * 4);
  if (input.length >= XERIAL_HEADER_BYTES && input.subarray(0, 8).equals(XERIAL_MAGIC)) {
    let pos = XERIAL_HEADER_BYTES;
    while (pos < input.length) {
      if (pos + 4 > input.length) throw new CompressionError('snappy: truncated chunk length');
      const length = input.readUInt32BE(pos);
      pos += 4;
      if (pos + length > input.length) throw new CompressionError('snappy: truncated chunk');
      snappyBlock(input, pos, pos + length, out);
      pos += length;
    }
  } else {
    snappyBlock(input, 0, input.length, out);
  }
  return out.result();
};

const LZ4_MAGIC = 0x184d2204;

/**
 * One LZ4 block appended to `out`; matches may reach into earlier blocks of the frame.
 * @param {Buffer} input
 * @param {number} start
 * @param {number} end
 * @param {Output} out
 */
const lz4Block = (input, start, end, out) => {
  let pos = start;
  while (pos < end) {
    const token = input[pos++] ?? 0;
    let literals = token >>> 4;
    if (literals === 15) {
      for (let b = 255; b === 255; ) {
        if (pos >= end) throw new CompressionError('lz4: truncated literal length');
        b = input[pos++] ?? 0;
        literals += b;
      }
    }
    if (pos + literals > end) throw new CompressionError('lz4: truncated literals');
    out.append(input, pos, pos + literals);
    pos += literals;
    if (pos >= end) break; // the last sequence has literals only
    if (pos + 2 > end) throw new CompressionError('lz4: truncated match offset');
    const offset = input.readUInt16LE(pos);
    pos += 2;
    let length = token & 15;
    if (length === 15) {
      for (let b = 255; b === 255; ) {
        if (pos >= end) throw new CompressionError('lz4: truncated match length');
        b = input[pos++] ?? 0;
        length += b;
      }
    }
    out.copyBack(offset, length + 4, 'lz4');
  }
};

/**
 * The LZ4 frame format (what Kafka producers write since message format v1). Checksums are
 * skipped: the broker validated the batch's CRC when it accepted it.
 * @param {Buffer} input
 */
const lz4 = (input) => {
  if (input.length < 7 || input.readUInt32LE(0) !== LZ4_MAGIC)
    throw new CompressionError('lz4: not an LZ4 frame');
  const flags = input[4] ?? 0;
  if (flags >>> 6 !== 1) throw new CompressionError('lz4: unsupported frame version');
  const blockChecksum = (flags & 0x10) !== 0;
  let pos = 6 + ((flags & 0x08) !== 0 ? 8 : 0) + ((flags & 0x01) !== 0 ? 4 : 0) + 1;
  const out = new Output(input.length * 4);
  for (;;) {
    if (pos + 4 > input.length) throw new CompressionError('lz4: truncated frame');
    const word = input.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (pos + size > input.length) throw new CompressionError('lz4: truncated block');
    if (word & 0x80000000) out.append(input, pos, pos + size);
    else lz4Block(input, pos, pos + size, out);
    pos += size + (blockChecksum ? 4 : 0);
  }
  return out.result();
};

/** @type {((input: Buffer) => Buffer) | undefined} */
const nativeZstd =
  typeof (/** @type {any} */ (zlib).zstdDecompressSync) === 'function'
    ? (input) =>
        /** @type {any} */ (zlib).zstdDecompressSync(input, {
          maxOutputLength: MAX_DECOMPRESSED_BYTES,
        })
    : undefined;

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The memory a zstd frame header makes a decoder reserve (its content size, else its window),
 * which `fzstd` allocates up front: refused above MAX_DECOMPRESSED_BYTES before it does.
 * @param {Buffer} input
 */
const zstdFrameBytes = (input) => {
  if (input.length < 6 || input.readUInt32LE(0) !== ZSTD_MAGIC)
    throw new CompressionError('zstd: not a zstd frame');
  const descriptor = /** @type {number} */ (input[4]);
  const singleSegment = (descriptor >> 5) & 1;
  const contentSizeFlag = descriptor >> 6;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 3] ?? 0;
  const contentSizeBytes = contentSizeFlag ? 1 << contentSizeFlag : singleSegment;
  const at = 6 - singleSegment + dictionaryBytes;
  if (input.length < at + contentSizeBytes) throw new CompressionError('zstd: truncated frame');
  let contentSize = 0;
  for (let i = contentSizeBytes - 1; i >= 0; i--)
    contentSize = contentSize * 256 + /** @type {number} */ (input[at + i]);
  if (contentSizeFlag === 1) contentSize += 256;
  if (singleSegment) return contentSize;
  const window = /** @type {number} */ (input[5]);
  const base = 2 ** (10 + (window >> 3));
  return Math.max(contentSize, base + (base / 8) * (window & 7));
};

/** @param {Buffer} input */
const zstd = (input) => {
  try {
    if (nativeZstd) return nativeZstd(input);
    if (zstdFrameBytes(input) > MAX_DECOMPRESSED_BYTES)
      throw new CompressionError(
        `zstd: frame needs more than ${MAX_DECOMPRESSED_BYTES} bytes to decode`,
      );
    const { decompress } = require('fzstd');
    const out = decompress(input);
    if (out.length > MAX_DECOMPRESSED_BYTES)
      throw new CompressionError(
        `zstd: decompressed batch larger than ${MAX_DECOMPRESSED_BYTES} bytes`,
      );
    return Buffer.from(out.buffer, out.byteOffset, out.length);
  } catch (error) {
    if (error instanceof CompressionError) throw error;
    throw new CompressionError(`zstd: ${messageOf(error)}`, { cause: error });
  }
};

/**
 * Decompresses the records of a batch whose attributes name `codec` (1..4).
 * @param {number} codec
 * @param {Buffer} input
 * @returns {Promise<Buffer>}
 */
const decompress = async (codec, input) => {
  switch (codec) {
    case 1:
      return gzip(input);
    case 2:
      return snappy(input);
    case 3:
      return lz4(input);
    case 4:
      return zstd(input);
    default:
      throw new CompressionError(`unknown compression codec ${codec}`);
  }
};

module.exports = {
  CODECS,
  MAX_DECOMPRESSED_BYTES,
  decompress,
  lz4,
  snappy,
  zstd,
  zstdFrameBytes,
};
