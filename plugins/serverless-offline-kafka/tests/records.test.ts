import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { lz4, snappy, zstd, zstdFrameBytes } from '../src/compression.js';
import { toLambdaHeaders } from '../src/event.js';
import { decodeBatch, install, withDecoder } from '../src/records.js';

/**
 * The plugin's record-batch decoder, on batches written here byte by byte as the Kafka protocol
 * lays them out (message format v2), so that nothing of kafkajs's own decoding is involved.
 */

class PartialError extends Error {}

const varint = (n: number): Buffer => {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  out.push(z);
  return Buffer.from(out);
};
const bytes = (b: Buffer | null) =>
  b === null ? varint(-1) : Buffer.concat([varint(b.length), b]);

type Header = [string, Buffer | null];
const record = (
  offsetDelta: number,
  key: Buffer | null,
  value: Buffer | null,
  headers: Header[],
) => {
  const body = Buffer.concat([
    Buffer.from([0]),
    varint(offsetDelta * 10),
    varint(offsetDelta),
    bytes(key),
    bytes(value),
    varint(headers.length),
    ...headers.map(([name, v]) => Buffer.concat([bytes(Buffer.from(name)), bytes(v)])),
  ]);
  return Buffer.concat([varint(body.length), body]);
};

/** A v2 record batch at `baseOffset` holding `records`, compressed with `codec` (0 none). */
const batch = (baseOffset: number, records: Buffer[], codec = 0, compress = (b: Buffer) => b) => {
  const payload = codec === 0 ? Buffer.concat(records) : compress(Buffer.concat(records));
  const header = Buffer.alloc(61);
  header.writeBigInt64BE(BigInt(baseOffset), 0);
  header.writeInt32BE(49 + payload.length, 8);
  header.writeInt8(2, 16);
  header.writeInt16BE(codec, 21);
  header.writeInt32BE(records.length - 1, 23);
  header.writeBigInt64BE(1_764_000_000_000n, 27);
  header.writeBigInt64BE(1_764_000_000_000n, 35);
  header.writeBigInt64BE(-1n, 43);
  header.writeInt16BE(-1, 51);
  header.writeInt32BE(-1, 53);
  header.writeInt32BE(records.length, 57);
  return Buffer.concat([header, payload]);
};

const decode = (buffer: Buffer) => decodeBatch({ buffer, offset: 0 }, PartialError);

const HEADERS: Header[] = [
  ['trace', Buffer.from('a')],
  ['__proto__', Buffer.from('p')],
  ['constructor', Buffer.from('c')],
  ['trace', Buffer.from('b')],
  ['toString', Buffer.from([0xc3, 0xab])],
  ['nothing', null],
];

describe('decodeBatch', () => {
  it('keeps every header in record order, repeated and odd names included, null values too', async () => {
    const { records } = await decode(batch(40, [record(0, null, Buffer.from('v'), HEADERS)]));
    const [first] = records;
    expect(first?.headerList).toEqual(HEADERS);
    expect(toLambdaHeaders({}, first?.headerList)).toEqual([
      { trace: [97] },
      JSON.parse('{"__proto__":[112]}'),
      { constructor: [99] },
      { trace: [98] },
      { toString: [-61, -85] },
      {},
    ]);
    expect(JSON.stringify(toLambdaHeaders({}, first?.headerList))).toBe(
      '[{"trace":[97]},{"__proto__":[112]},{"constructor":[99]},{"trace":[98]},{"toString":[-61,-85]},{}]',
    );
  });

  it('gives offsets, timestamps, keys and values as kafkajs does (strings and buffers)', async () => {
    const { records } = await decode(
      batch(7, [record(0, Buffer.from('k'), null, []), record(1, null, Buffer.from('x'), [])]),
    );
    expect(
      records.map((r) => [
        r.offset,
        r.timestamp,
        r.key?.toString() ?? null,
        r.value?.toString() ?? null,
      ]),
    ).toEqual([
      ['7', '1764000000000', 'k', null],
      ['8', '1764000000010', null, 'x'],
    ]);
  });

  it('decompresses a gzip batch', async () => {
    const { records } = await decode(
      batch(0, [record(0, null, Buffer.from('zipped'), HEADERS)], 1, (b) => gzipSync(b)),
    );
    expect(records[0]?.value?.toString()).toBe('zipped');
    expect(records[0]?.headerList).toEqual(HEADERS);
  });

  it('returns one undecodable marker at the batch’s first offset for a batch it cannot decode', async () => {
    const broken = batch(12, [record(0, null, Buffer.from('v'), [])], 3, () => Buffer.from('nope'));
    const { records } = await decode(broken);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ offset: '12', isControlRecord: false });
    expect(records[0]?.undecodable).toMatch(
      /lz4 batch at offsets 12\.\.12 cannot be decoded: lz4: not an LZ4 frame/,
    );
  });

  it('names an unknown codec', async () => {
    const { records } = await decode(
      batch(0, [record(0, null, Buffer.from('v'), [])], 6, (b) => b),
    );
    expect(records[0]?.undecodable).toMatch(/codec 6 batch .* unknown compression codec 6/);
  });

  it('throws the partial-message error for a batch cut short by the fetch size', async () => {
    const whole = batch(0, [record(0, null, Buffer.from('v'), [])]);
    await expect(decode(whole.subarray(0, whole.length - 3))).rejects.toBeInstanceOf(PartialError);
  });

  it('moves the fetch decoder past the batch', async () => {
    const two = Buffer.concat([
      batch(0, [record(0, null, Buffer.from('a'), [])]),
      batch(1, [record(0, null, Buffer.from('b'), [])]),
    ]);
    const decoder = { buffer: two, offset: 0 };
    await decodeBatch(decoder, PartialError);
    const { records } = await decodeBatch(decoder, PartialError);
    expect(records[0]?.value?.toString()).toBe('b');
  });
});

describe('install', () => {
  const nodeRequire = createRequire(import.meta.url);
  /** What kafkajs's fetch response hands to its batch decoding: the size, then the batches. */
  const fetchRecords = (batches: Buffer) => {
    const size = Buffer.alloc(4);
    size.writeInt32BE(batches.length);
    return Buffer.concat([size, batches]);
  };

  it('decodes with the plugin only within withDecoder; other kafkajs clients keep kafkajs’s decoder', async () => {
    expect(install()).toEqual({ installed: true });
    // Loaded after install, as kafkajs loads it on its first fetch.
    const decodeMessages = nodeRequire('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js');
    const Decoder = nodeRequire('kafkajs/src/protocol/decoder.js');
    const bytes = fetchRecords(batch(3, [record(0, null, Buffer.from('v'), HEADERS)]));

    const [ours] = await withDecoder(() => decodeMessages(new Decoder(bytes)));
    expect(ours.headerList).toEqual(HEADERS);

    const [theirs] = await decodeMessages(new Decoder(bytes));
    expect(theirs.headerList).toBeUndefined();
    expect(theirs.offset).toBe('3');
    expect(theirs.headers.trace.map(String)).toEqual(['a', 'b']);
    expect(Object.getPrototypeOf(theirs.headers)).toBe(Object.prototype);
  });

  it('keeps kafkajs’s own failure for an undecodable batch outside withDecoder', async () => {
    install();
    const decodeMessages = nodeRequire('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js');
    const Decoder = nodeRequire('kafkajs/src/protocol/decoder.js');
    const broken = fetchRecords(
      batch(12, [record(0, null, Buffer.from('v'), [])], 3, () => Buffer.from('nope')),
    );
    const [marker] = await withDecoder(() => decodeMessages(new Decoder(broken)));
    expect(marker.undecodable).toMatch(/lz4 batch at offsets 12\.\.12/);
    await expect(decodeMessages(new Decoder(broken))).rejects.toThrow();
  });

  /** A require whose kafkajs is `version`, with `loaded` modules already in its cache. */
  const fakeRequire = (version: string, loaded: string[] = []) => {
    const cache: Record<string, { exports: unknown }> = {};
    for (const path of loaded) cache[path] = { exports: () => undefined };
    const req = Object.assign(
      (id: string) => {
        if (id === 'kafkajs/package.json') return { version };
        const decoder = async () => ({ records: [] });
        cache[id] ??= { exports: decoder };
        return cache[id]?.exports;
      },
      { resolve: (id: string) => id, cache },
    );
    return req as unknown as NodeJS.Require;
  };

  it('leaves any kafkajs other than 2.x alone, and says which version it found', () => {
    expect(install(fakeRequire('3.0.0'))).toEqual({
      installed: false,
      reason: 'kafkajs 3.0.0 is not a 2.x release',
    });
  });

  it('leaves kafkajs alone when its fetch code loaded first (the old decoder is already captured)', () => {
    const req = fakeRequire('2.2.4', ['kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js']);
    expect(install(req)).toEqual({
      installed: false,
      reason: 'kafkajs fetched records before this plugin loaded',
    });
  });

  it('reports kafkajs internals that moved instead of throwing', () => {
    const req = Object.assign(
      (id: string) => (id === 'kafkajs/package.json' ? { version: '2.3.0' } : undefined),
      {
        resolve: (id: string) => {
          throw new Error(`Cannot find module '${id}'`);
        },
        cache: {},
      },
    ) as unknown as NodeJS.Require;
    const result = install(req);
    expect(result.installed).toBe(false);
    expect(result).toMatchObject({
      reason: expect.stringMatching(/internals are not where expected/),
    });
  });
});

describe('snappy', () => {
  // "abcabcabcabc": literal "abc", then a copy of 9 bytes from 3 back (overlapping).
  const block = Buffer.from([12, 0x08, 0x61, 0x62, 0x63, 0x15, 0x03]);

  it('decodes a raw block (librdkafka, Go)', () => {
    expect(snappy(block).toString()).toBe('abcabcabcabc');
  });

  it('decodes snappy-java’s framing (Java producers)', () => {
    const header = Buffer.from([
      0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1,
    ]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(block.length);
    expect(snappy(Buffer.concat([header, length, block, length, block])).toString()).toBe(
      'abcabcabcabc'.repeat(2),
    );
  });

  it('refuses a copy reaching before the start', () => {
    expect(() => snappy(Buffer.from([4, 0x15, 0x09]))).toThrow(/back-reference/);
  });
});

describe('lz4', () => {
  // One block: 3 literals "abc", then a match of 9 from 3 back.
  const blockData = Buffer.from([0x35, 0x61, 0x62, 0x63, 0x03, 0x00]);
  const frame = (data: Buffer) => {
    const size = Buffer.alloc(4);
    size.writeUInt32LE(data.length);
    return Buffer.concat([
      Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]),
      size,
      data,
      Buffer.alloc(4),
    ]);
  };

  it('decodes a frame with an overlapping match', () => {
    expect(lz4(frame(blockData)).toString()).toBe('abcabcabcabcabc'.slice(0, 12));
  });

  it('refuses a truncated frame', () => {
    expect(() => lz4(frame(blockData).subarray(0, 12))).toThrow(/truncated/);
  });
});

describe('zstd', () => {
  // `zstd -19` of the text below: one frame with its content size and a checksum.
  const frame = Buffer.from(
    '28b52ffd04689d00006868656c6c6f207a7374642c20210100574a124cb8b647',
    'hex',
  );

  it('decodes a frame', () => {
    expect(zstd(frame).toString()).toBe('hello zstd, hello zstd, hello zstd!');
  });

  it('refuses a frame whose header asks for a window far beyond any batch, before allocating it', () => {
    // No content size, a 1 GiB window (descriptor byte 0xa0), then an empty last block.
    const huge = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa0, 0x01, 0x00, 0x00]);
    expect(zstdFrameBytes(huge)).toBe(2 ** 30);
    expect(zstdFrameBytes(frame)).toBe(8 * 1024 * 1024); // its window: `zstd -19` asks for 8 MiB
    expect(() => zstd(huge)).toThrow(/zstd: /);
  });

  it('refuses bytes that are not zstd', () => {
    expect(() => zstd(Buffer.from('plain text, not compressed'))).toThrow(/zstd: /);
  });
});
