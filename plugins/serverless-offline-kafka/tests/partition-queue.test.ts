import { describe, expect, it } from 'vitest';
import { toLambdaRecord } from '../src/event.js';
import { PartitionQueue } from '../src/partition-queue.js';
import { messages } from './support.js';

const PARTITION = 1;
const admit = (message: Parameters<typeof toLambdaRecord>[2]) => ({
  record: toLambdaRecord('notifications', PARTITION, message),
  deliver: true,
});

const queueAt = (clock: { now: number }) => {
  const calls: string[] = [];
  const queue = new PartitionQueue(PARTITION, {
    pause: (p) => calls.push(`pause ${p}`),
    resume: (p) => calls.push(`resume ${p}`),
    now: () => clock.now,
  });
  return { queue, calls };
};

describe('PartitionQueue', () => {
  it('skips records at or below the last queued offset', () => {
    const { queue } = queueAt({ now: 0 });
    queue.enqueue(messages(0, 2), '3', admit);
    queue.enqueue(messages(1, 4), '5', admit);
    expect(queue.waiting).toBe(5);
    expect(queue.highWatermark).toBe(5n);
  });

  it('times the batching window from the first waiting record, or from the end of the previous batch', () => {
    const clock = { now: 1_000 };
    const { queue } = queueAt(clock);
    queue.enqueue(messages(0, 1), undefined, admit);
    expect(queue.windowClosesAt(500)).toBe(1_500);
    queue.take({ maxRecords: 1, bytesLeft: 1_000_000, aloneLimit: 1_000_000 });
    clock.now = 3_000;
    queue.batchEnded(1, true);
    expect(queue.windowClosesAt(500)).toBe(3_500);
  });

  it('is held from take until its batch ends, and keeps unconsumed records to take again', async () => {
    const { queue } = queueAt({ now: 0 });
    queue.enqueue(messages(0, 2), undefined, admit);
    const share = queue.take({ maxRecords: 2, bytesLeft: 1_000_000, aloneLimit: 1_000_000 });
    expect(share.taken).toBe(2);
    expect(queue.busy).toBe(true);
    const freed = queue.freed;
    queue.batchEnded(share.taken, false);
    await freed;
    expect(queue.busy).toBe(false);
    expect(queue.waiting).toBe(3);
    expect(queue.first?.offset).toBe(0n);
  });

  it('pauses fetching at 20,000 waiting records and resumes below half of it', () => {
    const { queue, calls } = queueAt({ now: 0 });
    queue.enqueue(messages(0, 19_999), undefined, admit);
    expect(calls).toEqual([`pause ${PARTITION}`]);
    const limits = { maxRecords: 10_000, bytesLeft: 1e9, aloneLimit: 1e9 };
    queue.batchEnded(queue.take(limits).taken, true);
    expect(calls).toEqual([`pause ${PARTITION}`]);
    queue.batchEnded(queue.take({ ...limits, maxRecords: 1 }).taken, true);
    expect(calls).toEqual([`pause ${PARTITION}`, `resume ${PARTITION}`]);
  });

  it('drops its records and resumes a paused fetch when revoked', () => {
    const { queue, calls } = queueAt({ now: 0 });
    queue.enqueue(messages(0, 19_999), undefined, admit);
    queue.revoke();
    expect(calls).toEqual([`pause ${PARTITION}`, `resume ${PARTITION}`]);
    expect(queue.waiting).toBe(0);
    queue.enqueue(messages(20_000, 20_001), undefined, admit);
    expect(queue.waiting).toBe(0);
  });
});
