import { describe, expect, it } from 'vitest';
import { type QueuedRecord, type ShareLimits, takeFrom } from '../src/batcher.js';
import { toLambdaRecord } from '../src/event.js';
import { message, offsets } from './support.js';

/** One queue entry; `bytes` is what the record adds to the event, set directly for clarity. */
const entry = (
  offset: number,
  { bytes = 100, deliver = true, arrivedAt = 0, rejected }: Partial<QueuedRecord> = {},
): QueuedRecord => ({
  record: toLambdaRecord('notifications', 0, message(offset)),
  offset: BigInt(offset),
  bytes,
  deliver,
  arrivedAt,
  ...(rejected ? { rejected } : {}),
});

/** Entries for offsets `from`..`to`, all with the same fields. */
const entries = (from: number, to: number, fields: Partial<QueuedRecord> = {}) =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, fields));

const limits = (changes: Partial<ShareLimits> = {}): ShareLimits => ({
  maxRecords: 100,
  bytesLeft: 10_000,
  aloneLimit: 9_800,
  ...changes,
});

describe('takeFrom', () => {
  it('takes nothing from an empty queue', () => {
    expect(takeFrom([], 0, limits())).toEqual({
      taken: 0,
      records: [],
      oversized: [],
      rejected: [],
      bytes: 0,
      lastOffset: -1n,
    });
  });

  it('takes at most maxRecords records, from the head, in order', () => {
    const share = takeFrom(entries(0, 9), 0, limits({ maxRecords: 4 }));
    expect(offsets(share.records)).toEqual([0, 1, 2, 3]);
    expect(share).toMatchObject({ taken: 4, lastOffset: 3n, bytes: 400 });
  });

  it('starts at head, leaving the entries before it alone', () => {
    expect(offsets(takeFrom(entries(0, 5), 3, limits()).records)).toEqual([3, 4, 5]);
  });

  it('stops before the record that would take the event past the bytes left', () => {
    expect(offsets(takeFrom(entries(0, 9), 0, limits({ bytesLeft: 350 })).records)).toEqual([
      0, 1, 2,
    ]);
  });

  it('takes a record that fills the event to exactly the bytes left', () => {
    expect(offsets(takeFrom(entries(0, 9), 0, limits({ bytesLeft: 300 })).records)).toEqual([
      0, 1, 2,
    ]);
  });

  it('takes filtered-out records along without delivering or counting them', () => {
    const queue = [entry(0), entry(1, { deliver: false, bytes: 9_000 }), entry(2), entry(3)];
    const share = takeFrom(queue, 0, limits({ maxRecords: 2 }));
    expect(offsets(share.records)).toEqual([0, 2]);
    expect(share).toMatchObject({ taken: 3, lastOffset: 2n, bytes: 200 });
  });

  it('takes filtered-out records that follow a full share, so that their offsets commit with it', () => {
    const queue = [entry(0), entry(1, { deliver: false }), entry(2)];
    expect(takeFrom(queue, 0, limits({ maxRecords: 1 }))).toMatchObject({
      taken: 2,
      lastOffset: 1n,
    });
  });

  it('takes records the schema registry step rejected along, listed with why, for the destination', () => {
    const rejection = {
      condition: 'SCHEMA_NOT_FOUND',
      error: 'the schema 9 of its value is not in r',
    } as const;
    const queue = [entry(0), entry(1, { deliver: false, rejected: rejection }), entry(2)];
    const share = takeFrom(queue, 0, limits());
    expect(offsets(share.records)).toEqual([0, 2]);
    expect(share.rejected.map((r) => [r.record.offset, r.rejection])).toEqual([[1, rejection]]);
    expect(share).toMatchObject({ taken: 3, lastOffset: 2n, bytes: 200 });
  });

  it('takes a record too large for any event on its own, as oversized', () => {
    const share = takeFrom([entry(0, { bytes: 9_900 }), entry(1)], 0, limits());
    expect(share.records).toEqual([]);
    expect(offsets(share.oversized)).toEqual([0]);
    expect(share).toMatchObject({ taken: 1, lastOffset: 0n });
  });

  it('lets the records before an oversized record go first, without it', () => {
    const share = takeFrom([entry(0), entry(1, { bytes: 9_900 })], 0, limits());
    expect(offsets(share.records)).toEqual([0]);
    expect(share.oversized).toEqual([]);
    expect(share.taken).toBe(1);
  });

  it('leaves for another event a record that fits an event of its own but not what is left', () => {
    const share = takeFrom([entry(0, { bytes: 5_000 })], 0, limits({ bytesLeft: 1_000 }));
    expect(share).toMatchObject({ taken: 0, records: [], oversized: [] });
  });

  it('leaves the queue as it was', () => {
    const queue = entries(0, 3);
    takeFrom(queue, 0, limits({ maxRecords: 2 }));
    expect(queue).toHaveLength(4);
  });
});
