import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { filterAborted, install } from '../src/aborted.js';

const require = createRequire(import.meta.url);
/** kafkajs's own filter, which `filterAborted` replaces: loaded afresh, whatever is installed. */
const kafkajsFilter = ((): typeof filterAborted => {
  const path = require.resolve('kafkajs/src/consumer/filterAbortedMessages');
  const cached = require.cache[path];
  delete require.cache[path];
  try {
    return require(path);
  } finally {
    if (cached) require.cache[path] = cached;
  }
})();

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);
const record = (
  offset: number,
  producerId: string,
  inTransaction = true,
  key: Buffer | null = null,
) => ({
  offset: String(offset),
  key,
  isControlRecord: key !== null,
  batchContext: { producerId, inTransaction },
});

describe('filterAborted', () => {
  // A fetch from offset 1 of: 0 a (producer 7, aborted), 1 b (producer 8, aborted), 2 plain,
  // 3 ABORT 7, 4 ABORT 8; the broker lists both aborted transactions, the first first.
  const fetched = [
    record(1, '8'),
    record(2, '9', false),
    record(3, '7', true, ABORT),
    record(4, '8', true, ABORT),
  ];
  const abortedTransactions = [
    { producerId: '7', firstOffset: '0' },
    { producerId: '8', firstOffset: '1' },
  ];
  const offsets = (records: { offset: string; isControlRecord: boolean }[]) =>
    records.filter((r) => !r.isControlRecord).map((r) => r.offset);

  it('drops a record of every aborted transaction begun at or before it', () => {
    expect(offsets(filterAborted({ messages: fetched, abortedTransactions }))).toEqual(['2']);
    // kafkajs 2.2.4 takes one aborted transaction per record: the second's record gets through.
    expect(offsets(kafkajsFilter({ messages: fetched, abortedTransactions }))).toEqual(['1', '2']);
  });

  it("keeps a producer's records after its ABORT marker, and committed transactions' records", () => {
    const messages = [
      record(0, '7'),
      record(1, '7', true, ABORT),
      record(2, '7'),
      record(3, '7', true, COMMIT),
      record(4, '8'),
    ];
    const aborted = [{ producerId: '7', firstOffset: '0' }];
    expect(offsets(filterAborted({ messages, abortedTransactions: aborted }))).toEqual(['2', '4']);
    expect(filterAborted({ messages, abortedTransactions: [] })).toBe(messages);
  });

  it('takes the aborted transactions in offset order, whatever order the broker lists them in', () => {
    const listed = [...abortedTransactions].reverse();
    expect(offsets(filterAborted({ messages: fetched, abortedTransactions: listed }))).toEqual([
      '2',
    ]);
  });
});

describe('install', () => {
  /** A `require` whose module cache holds kafkajs's filter, and its batch module or not. */
  const fakeRequire = (batchLoaded: boolean) => {
    const original = () => [];
    const cache: Record<string, { exports: unknown } | undefined> = {
      filter: { exports: original },
      ...(batchLoaded ? { batch: { exports: {} } } : {}),
    };
    const req = Object.assign((path: string) => cache[path]?.exports, {
      resolve: (id: string) => (id.endsWith('filterAbortedMessages.js') ? 'filter' : 'batch'),
      cache,
    }) as unknown as NodeJS.Require;
    return { req, cache };
  };

  it('replaces kafkajs’s filter before kafkajs’s consumer loads it, once', () => {
    const { req, cache } = fakeRequire(false);
    expect(install(req)).toEqual({ installed: true });
    expect(cache.filter?.exports).toBe(filterAborted);
    expect(install(req)).toEqual({ installed: true });
  });

  it('says why when kafkajs’s consumer already holds its own', () => {
    const { req, cache } = fakeRequire(true);
    expect(install(req)).toEqual({
      installed: false,
      reason: 'kafkajs consumed records before this plugin loaded',
    });
    expect(cache.filter?.exports).not.toBe(filterAborted);
  });
});
