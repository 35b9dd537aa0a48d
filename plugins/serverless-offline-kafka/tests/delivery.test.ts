import { describe, expect, it } from 'vitest';
import { partialOutcome } from '../src/delivery.js';
import { type LambdaKafkaRecord, toLambdaRecord } from '../src/event.js';
import { message, offsets } from './support.js';

const PARTITION = 3;

describe('partialOutcome', () => {
  const records: LambdaKafkaRecord[] = [40, 41, 42, 43].map((o) =>
    toLambdaRecord('notifications', PARTITION, message(o)),
  );

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['an empty object', {}],
    ['batchItemFailures: null', { batchItemFailures: null }],
    ['an empty batchItemFailures list', { batchItemFailures: [] }],
    ['an empty array', []],
  ])('reads %s as success', (_, result) => {
    expect(partialOutcome(result, records)).toEqual({ kind: 'ok' });
  });

  it.each([
    ['a string', 'failed'],
    ['a number', 42],
    ['true', true],
  ])('fails the whole batch for a response that is %s', (_, result) => {
    expect(partialOutcome(result, records)).toEqual({
      kind: 'failed',
      error: 'invalid partial batch response (not an object)',
    });
  });

  it.each([
    ['a string', 'all'],
    ['an object', { itemIdentifier: { partition: 'notifications-3', offset: 41 } }],
  ])('fails the whole batch when batchItemFailures is %s', (_, batchItemFailures) => {
    expect(partialOutcome({ batchItemFailures }, records)).toMatchObject({
      kind: 'failed',
      error: expect.stringMatching(/batchItemFailures is not a list/),
    });
  });

  it.each([
    ['an offset not in the batch', { partition: 'notifications-3', offset: 44 }],
    ['another partition', { partition: 'notifications-4', offset: 41 }],
    ['a bare partition number', { partition: 3, offset: 41 }],
    ['no offset', { partition: 'notifications-3' }],
  ])('fails the whole batch for an identifier with %s', (_, itemIdentifier) => {
    const outcome = partialOutcome({ batchItemFailures: [{ itemIdentifier }] }, records);
    expect(outcome).toMatchObject({
      kind: 'failed',
      error: expect.stringMatching(/names a record not in the batch/),
    });
  });

  it.each([
    ['a failure without itemIdentifier', [{}]],
    ['a null failure', [null]],
    [
      'one unknown identifier among known ones',
      [
        { itemIdentifier: { partition: 'notifications-3', offset: 41 } },
        { itemIdentifier: { partition: 'notifications-3', offset: 99 } },
      ],
    ],
  ])('fails the whole batch for %s', (_, batchItemFailures) => {
    expect(partialOutcome({ batchItemFailures }, records).kind).toBe('failed');
  });

  it('names the failed records, in the batch’s order', () => {
    const result = {
      batchItemFailures: [43, 41].map((offset) => ({
        itemIdentifier: { partition: `notifications-${PARTITION}`, offset },
      })),
    };
    const outcome = partialOutcome(result, records);
    expect(outcome.kind).toBe('partial');
    expect(outcome.kind === 'partial' && offsets(outcome.failed)).toEqual([41, 43]);
  });

  it('accepts an offset given as a string', () => {
    const result = {
      batchItemFailures: [{ itemIdentifier: { partition: 'notifications-3', offset: '42' } }],
    };
    const outcome = partialOutcome(result, records);
    expect(outcome.kind === 'partial' && offsets(outcome.failed)).toEqual([42]);
  });
});
