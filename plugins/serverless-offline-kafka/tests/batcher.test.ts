import { describe, expect, it } from 'vitest';
import {
  type BatchLimits,
  isFull,
  type QueuedRecord,
  takeBatch,
  windowClosesAt,
} from '../src/batcher.js';
import { toLambdaRecord } from '../src/event.js';
import { message, offsets } from './support.js';

/** One queue entry; `bytes` is what the record adds to the event, set directly for clarity. */
const entry = (
  offset: number,
  { bytes = 100, deliver = true, arrivedAt = 0 }: Partial<QueuedRecord> = {},
): QueuedRecord => ({
  record: toLambdaRecord('notifications', 0, message(offset)),
  offset: BigInt(offset),
  bytes,
  deliver,
  arrivedAt,
});

/** Entries for offsets `from`..`to`, all with the same fields. */
const entries = (from: number, to: number, fields: Partial<QueuedRecord> = {}) =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, fields));

const limits = (changes: Partial<BatchLimits> = {}): BatchLimits => ({
  batchSize: 100,
  maxEventBytes: 10_000,
  envelopeBytes: 200,
  ...changes,
});

describe('isFull', () => {
  it.each([
    ['fewer records than BatchSize', entries(0, 1), false],
    ['exactly BatchSize records', entries(0, 2), true],
    ['more records than BatchSize', entries(0, 4), true],
    [
      'BatchSize records only when filtered-out ones are counted',
      [entry(0), entry(1, { deliver: false }), entry(2, { deliver: false }), entry(3)],
      false,
    ],
    ['an empty queue', [], false],
  ])('by count: is %s full? %s', (_, queue, expected) => {
    expect(isFull(queue, limits({ batchSize: 3 }))).toBe(expected);
  });

  it.each([
    ['the envelope and records fit exactly', entries(0, 1, { bytes: 400 }), false],
    ['one more record would go past the limit', entries(0, 2, { bytes: 400 }), true],
    ['a single record alone goes past the limit', [entry(0, { bytes: 2_000 })], true],
    [
      'only filtered-out records would go past it',
      [entry(0, { bytes: 400 }), entry(1, { bytes: 5_000, deliver: false })],
      false,
    ],
  ])('by bytes: when %s, full is %s', (_, queue, expected) => {
    expect(isFull(queue, limits({ maxEventBytes: 1_000, envelopeBytes: 200 }))).toBe(expected);
  });
});

describe('windowClosesAt', () => {
  it('never closes for an empty queue', () => {
    expect(windowClosesAt([], 500, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it.each([
    ['the first record arrived after the previous invocation ended', 1_000, 400, 1_500],
    ['records were already waiting when the previous invocation ended', 1_000, 1_200, 1_700],
    ['there was no previous invocation', 1_000, 0, 1_500],
  ])(
    'times the window from the later of arrival and previous end when %s',
    (_, arrivedAt, previousEnd, expected) => {
      const queue = [entry(0, { arrivedAt }), entry(1, { arrivedAt: arrivedAt + 300 })];
      expect(windowClosesAt(queue, 500, previousEnd)).toBe(expected);
    },
  );

  it('times the window from the first record, not the latest one', () => {
    const queue = [entry(0, { arrivedAt: 1_000 }), entry(1, { arrivedAt: 1_450 })];
    expect(windowClosesAt(queue, 500, 0)).toBe(1_500);
  });

  it('closes at once with a zero window', () => {
    expect(windowClosesAt([entry(0, { arrivedAt: 1_000 })], 0, 0)).toBe(1_000);
  });
});

describe('takeBatch', () => {
  it('takes nothing from an empty queue', () => {
    expect(takeBatch([], limits())).toEqual({
      taken: 0,
      records: [],
      oversized: [],
      skipped: 0,
      lastOffset: -1n,
    });
  });

  it('takes at most BatchSize records, from the head, in order', () => {
    const batch = takeBatch(entries(5, 11), limits({ batchSize: 4 }));
    expect(offsets(batch.records)).toEqual([5, 6, 7, 8]);
    expect(batch.taken).toBe(4);
    expect(batch.lastOffset).toBe(8n);
  });

  it('takes the whole queue when it is smaller than BatchSize', () => {
    const batch = takeBatch(entries(0, 2), limits({ batchSize: 10 }));
    expect(offsets(batch.records)).toEqual([0, 1, 2]);
    expect(batch.lastOffset).toBe(2n);
  });

  it('stops before the record that would take the event past the byte limit', () => {
    // 200 + 3 × 250 = 950 fits in 1,000; a fourth record would make 1,200.
    const batch = takeBatch(entries(0, 5, { bytes: 250 }), limits({ maxEventBytes: 1_000 }));
    expect(offsets(batch.records)).toEqual([0, 1, 2]);
    expect(batch.taken).toBe(3);
    expect(batch.lastOffset).toBe(2n);
    expect(batch.oversized).toEqual([]);
  });

  it('takes a record that fills the event to exactly the byte limit', () => {
    const batch = takeBatch(entries(0, 1, { bytes: 400 }), limits({ maxEventBytes: 1_000 }));
    expect(offsets(batch.records)).toEqual([0, 1]);
  });

  it('takes filtered-out records along without delivering them, and counts them as skipped', () => {
    const queue = [
      entry(0),
      entry(1, { deliver: false }),
      entry(2),
      entry(3, { deliver: false }),
      entry(4, { deliver: false }),
      entry(5),
    ];
    const batch = takeBatch(queue, limits());
    expect(offsets(batch.records)).toEqual([0, 2, 5]);
    expect(batch.skipped).toBe(3);
    expect(batch.taken).toBe(6);
    expect(batch.lastOffset).toBe(5n);
  });

  it('does not count filtered-out records toward BatchSize', () => {
    const queue = [
      entry(0, { deliver: false }),
      entry(1),
      entry(2, { deliver: false }),
      entry(3),
      entry(4),
    ];
    const batch = takeBatch(queue, limits({ batchSize: 2 }));
    expect(offsets(batch.records)).toEqual([1, 3]);
    expect(batch.skipped).toBe(2);
    expect(batch.lastOffset).toBe(3n);
  });

  it('does not count filtered-out records toward the byte limit', () => {
    const queue = [
      entry(0, { bytes: 400 }),
      entry(1, { bytes: 9_000, deliver: false }),
      entry(2, { bytes: 400 }),
    ];
    const batch = takeBatch(queue, limits({ maxEventBytes: 1_000 }));
    expect(offsets(batch.records)).toEqual([0, 2]);
    expect(batch.lastOffset).toBe(2n);
  });

  it('takes filtered-out records that follow a full batch, so that their offsets commit with it', () => {
    const queue = [entry(0), entry(1), entry(2, { deliver: false }), entry(3)];
    const batch = takeBatch(queue, limits({ batchSize: 2 }));
    expect(offsets(batch.records)).toEqual([0, 1]);
    expect(batch.taken).toBe(3);
    expect(batch.lastOffset).toBe(2n);
  });

  it('takes a queue of filtered-out records whole, delivering nothing', () => {
    const batch = takeBatch(entries(0, 3, { deliver: false }), limits({ batchSize: 2 }));
    expect(batch).toMatchObject({ taken: 4, records: [], skipped: 4, lastOffset: 3n });
  });

  it('takes a record that alone exceeds the limit on its own, as oversized', () => {
    const queue = [entry(0, { bytes: 2_000 }), entry(1), entry(2)];
    const batch = takeBatch(queue, limits({ maxEventBytes: 1_000 }));
    expect(batch.records).toEqual([]);
    expect(offsets(batch.oversized)).toEqual([0]);
    expect(batch.taken).toBe(1);
    expect(batch.lastOffset).toBe(0n);
  });

  it('lets the records before an oversized record go first, without it', () => {
    const queue = [entry(0), entry(1), entry(2, { bytes: 2_000 }), entry(3)];
    const first = takeBatch(queue, limits({ maxEventBytes: 1_000 }));
    expect(offsets(first.records)).toEqual([0, 1]);
    expect(first.oversized).toEqual([]);
    expect(first.lastOffset).toBe(1n);
    const second = takeBatch(queue.slice(first.taken), limits({ maxEventBytes: 1_000 }));
    expect(second).toMatchObject({ taken: 1, records: [], lastOffset: 2n });
    expect(offsets(second.oversized)).toEqual([2]);
  });

  it('takes filtered-out records before an oversized one along with it', () => {
    const queue = [entry(0, { deliver: false }), entry(1, { bytes: 2_000 }), entry(2)];
    const batch = takeBatch(queue, limits({ maxEventBytes: 1_000 }));
    expect(batch).toMatchObject({ taken: 2, records: [], skipped: 1, lastOffset: 1n });
    expect(offsets(batch.oversized)).toEqual([1]);
  });

  it('counts the envelope when deciding that a record is oversized', () => {
    // 900 fits under 1,000 alone, but not with a 200-byte envelope.
    const batch = takeBatch([entry(0, { bytes: 900 })], limits({ maxEventBytes: 1_000 }));
    expect(offsets(batch.oversized)).toEqual([0]);
  });

  it('leaves the queue as it was', () => {
    const queue = entries(0, 3);
    takeBatch(queue, limits({ batchSize: 2 }));
    expect(queue.map((e) => e.offset)).toEqual([0n, 1n, 2n, 3n]);
  });
});
