import { describe, expect, it } from 'vitest';
import { NodeBook } from '../../shared/cluster-view/cluster-view.js';
import { readEmulatorState } from '../../shared/cluster-view/emulator-state.js';
import { placeKey } from '../../shared/cluster-view/key-placement.js';
import { recordKey } from '../../shared/kafka/records.js';

describe('NodeBook', () => {
  it('names bootstrap addresses by node id once the cluster said which is which, and keeps them', () => {
    const book = new NodeBook(['127.0.0.1:9092', '127.0.0.1:9192']);
    expect(book.expected()).toEqual([
      { id: -2, address: '127.0.0.1:9192' },
      { id: -1, address: '127.0.0.1:9092' },
    ]);
    book.learn([
      { nodeId: 1, host: '127.0.0.1', port: 9092 },
      { nodeId: 2, host: '127.0.0.1', port: 9192 },
      { nodeId: 3, host: '127.0.0.1', port: 9292 },
    ]);
    // Node 3 is down now: the metadata forgets it, the book does not.
    book.learn([{ nodeId: 1, host: '127.0.0.1', port: 9092 }]);
    expect(book.expected().map((n) => n.id)).toEqual([1, 2, 3]);
  });
});

describe('placeKey', () => {
  // kafkajs's DefaultPartitioner, the producer's: the browser test checks the page's answer
  // against the partition the broker's offsets moved on.
  it.each([
    ['1', 0],
    ['2', 2],
    ['4', 1],
  ])('puts key %s on partition %i of three', (key, partition) => {
    expect(placeKey(key, 'notifications', 3)).toEqual({
      key,
      topic: 'notifications',
      partitions: 3,
      partition,
    });
  });

  it("places a notification's record key, the recipient's id", () => {
    const key = recordKey({ to: { id: 2 } } as Parameters<typeof recordKey>[0]);
    expect(placeKey(key, 'notifications', 3).partition).toBe(2);
  });
});

describe('readEmulatorState', () => {
  const answering = (status: number, body: unknown): typeof fetch =>
    (async () => new Response(JSON.stringify(body), { status })) as typeof fetch;

  it('is off without a URL', async () => {
    await expect(readEmulatorState(undefined, 100)).resolves.toEqual({ kind: 'off' });
  });

  it('reads the mappings of a version 1 state', async () => {
    const state = { version: 1, at: 1, mappings: [] };
    await expect(readEmulatorState('http://x/state', 100, answering(200, state))).resolves.toEqual({
      kind: 'read',
      mappings: [],
    });
  });

  it.each([
    [
      'another shape',
      answering(200, { version: 2 }),
      'its answer is not the state (version 1) expected',
    ],
    ['an error status', answering(500, {}), 'it answered 500'],
    [
      'no answer',
      (async () => {
        throw new TypeError('fetch failed');
      }) as typeof fetch,
      'it does not answer',
    ],
  ])('is unreachable on %s', async (_, fetchState, reason) => {
    await expect(readEmulatorState('http://x/state', 100, fetchState)).resolves.toEqual({
      kind: 'unreachable',
      reason,
    });
  });
});
