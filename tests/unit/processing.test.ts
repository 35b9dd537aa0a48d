import type { MSKEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/process-notifications/handler.js';
import { RetriableError } from '../../shared/errors.js';
import type { StoredNotification } from '../../shared/inbox/types.js';
import {
  DEAD_LETTER_HEADERS,
  type DeadLetterSink,
  type PoisonRecord,
  toDeadLetter,
} from '../../shared/kafka/dead-letters.js';
import { DEFAULT_USERS, UserDirectory } from '../../shared/models/index.js';
import { context, loadEvent } from '../helpers/events.js';
import { silentLogger } from '../helpers/logger.js';
import { recordingMetrics, valuesOf } from '../helpers/metrics.js';

class FakeInbox {
  readonly saved: StoredNotification[][] = [];
  failure: Error | undefined;
  /** Notification ids the store refuses for good, with the reason it gives. */
  readonly refuses = new Map<string, string>();
  async save(items: readonly StoredNotification[]) {
    if (this.failure) throw this.failure;
    const refused = items
      .filter((i) => this.refuses.has(i.notification.id))
      .map((item) => ({ item, reason: this.refuses.get(item.notification.id) ?? '' }));
    this.saved.push(items.filter((i) => !this.refuses.has(i.notification.id)));
    return { calls: Math.ceil(items.length / 25), refused };
  }
}

class FakeDeadLetters implements DeadLetterSink {
  readonly published: PoisonRecord[][] = [];
  failure: Error | undefined;
  async publish(records: readonly PoisonRecord[]) {
    if (this.failure) throw this.failure;
    if (records.length > 0) this.published.push([...records]);
  }
}

const setup = (partialBatchResponse = false) => {
  const inbox = new FakeInbox();
  const deadLetters = new FakeDeadLetters();
  const { metrics, lines: emf } = recordingMetrics();
  const handler = createHandler(
    {
      inbox,
      deadLetters,
      users: new UserDirectory(DEFAULT_USERS),
      logger: silentLogger(),
      metrics,
    },
    { partialBatchResponse },
  );
  return { inbox, deadLetters, handler, emf };
};

describe('process-notifications handler', () => {
  it('stores every valid notification of a batch in one save, with its Kafka position', async () => {
    const { inbox, deadLetters, handler } = setup();
    expect(await handler(loadEvent('msk-notifications.json'), context)).toBeUndefined();
    expect(inbox.saved).toHaveLength(1);
    expect(
      inbox.saved[0]?.map((s) => [s.notification.id.slice(-2), s.partition, s.offset]),
    ).toEqual([
      ['01', 0, '41'],
      ['02', 0, '42'],
      ['03', 2, '7'],
      ['04', 1, '3'],
    ]);
    expect(deadLetters.published).toHaveLength(0);
  });

  it('dead-letters a record the store refuses for good, with its reason, and stores the records after it', async () => {
    const { inbox, deadLetters, handler } = setup();
    const event = loadEvent<MSKEvent>('msk-notifications.json');
    await handler(event, context);
    const [first] = inbox.saved[0] ?? [];
    if (!first) throw new Error('nothing stored');
    const again = setup();
    again.inbox.refuses.set(
      first.notification.id,
      'the inbox refused it: ItemCollectionSizeLimitExceededException: too large',
    );
    expect(await again.handler(event, context)).toBeUndefined();
    expect(again.deadLetters.published.flat().map((p) => [p.position.offset, p.reason])).toEqual([
      [41, 'the inbox refused it: ItemCollectionSizeLimitExceededException: too large'],
    ]);
    expect(again.inbox.saved.flat().map((s) => s.offset)).toEqual(['42', '7', '3']);
    expect(deadLetters.published).toHaveLength(0);
  });

  it('dead-letters what can never be processed, with reasons, and stores the rest', async () => {
    const { inbox, deadLetters, handler } = setup();
    await handler(loadEvent('msk-poison.json'), context);
    const poison = deadLetters.published[0] ?? [];
    expect(poison.map((p) => [p.position.offset, p.reason.split(':')[0]])).toEqual([
      [10, 'tombstone'],
      [11, 'the value is not UTF-8 JSON'],
      [12, 'the value is not a notification'],
      [13, 'unknown user'],
    ]);
    expect(inbox.saved.flat().map((s) => s.offset)).toEqual(['14']);
  });

  it('fails the invocation when the store is unavailable, so the batch is delivered again', async () => {
    const { inbox, deadLetters, handler } = setup();
    inbox.failure = new RetriableError('store down');
    await expect(handler(loadEvent('msk-poison.json'), context)).rejects.toThrow('store down');
    expect(deadLetters.published).toHaveLength(0);
  });

  it('fails the invocation when the dead-letter topic cannot be written', async () => {
    const { deadLetters, handler } = setup();
    deadLetters.failure = new RetriableError('broker down');
    await expect(handler(loadEvent('msk-poison.json'), context)).rejects.toThrow('broker down');
  });

  it('answers an empty partial batch response when everything succeeded', async () => {
    const { handler } = setup(true);
    expect(await handler(loadEvent('msk-notifications.json'), context)).toEqual({
      batchItemFailures: [],
    });
  });

  it('reports the records it could not store in a partial batch response', async () => {
    const { inbox, handler } = setup(true);
    inbox.failure = new RetriableError('store down');
    const response = await handler(loadEvent('msk-notifications.json'), context);
    expect(response?.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'notifications-0', offset: 41 } },
      { itemIdentifier: { partition: 'notifications-0', offset: 42 } },
      { itemIdentifier: { partition: 'notifications-2', offset: 7 } },
      { itemIdentifier: { partition: 'notifications-1', offset: 3 } },
    ]);
  });

  it('still fails the invocation on an unexpected error in partial mode', async () => {
    const { inbox, handler } = setup(true);
    inbox.failure = new TypeError('a bug');
    await expect(handler(loadEvent('msk-notifications.json'), context)).rejects.toThrow('a bug');
  });

  it('stores a notification from a user renamed since it was sent: users are known by id', async () => {
    const { inbox, deadLetters, handler } = setup();
    const event = loadEvent<MSKEvent>('msk-notifications.json');
    const record = event.records['notifications-2']?.[0];
    if (!record) throw new Error('sample changed');
    const value = JSON.parse(Buffer.from(record.value, 'base64').toString());
    value.from.name = 'Emily';
    record.value = Buffer.from(JSON.stringify(value)).toString('base64');
    await handler(event, context);
    expect(inbox.saved.flat()).toHaveLength(4);
    expect(inbox.saved.flat()[2]?.notification.from).toEqual({ id: 1, name: 'Emily' });
    expect(deadLetters.published).toHaveLength(0);
  });

  it('dead-letters a malformed record with what the event held, so nothing is lost', async () => {
    const { deadLetters, handler } = setup();
    const event = loadEvent<MSKEvent>('msk-poison.json');
    const odd = { offset: 10, value: 42, note: 'not a Kafka record' };
    (event.records['notifications-1'] as unknown[])[0] = odd;
    await handler(event, context);
    const [first] = deadLetters.published[0] ?? [];
    expect(first?.reason).toMatch(/^malformed Kafka record in the event/);
    expect(first?.record).toBeUndefined();
    expect(first?.raw).toEqual(odd);
  });
});

describe('dead-letter records', () => {
  it('keep the original key, value and headers, and name their origin and reason', () => {
    const poison: PoisonRecord = {
      position: { topic: 'notifications', partition: 1, offset: 11 },
      record: {
        topic: 'notifications',
        partition: 1,
        offset: 11,
        timestamp: 1,
        key: Buffer.from('4'),
        value: Buffer.from('not json'),
        headers: [
          { name: 'x-a', value: Buffer.from('1') },
          { name: 'x-a', value: Buffer.from('2') },
        ],
      },
      reason: 'the value is not UTF-8 JSON',
    };
    const message = toDeadLetter(poison, new Date('2026-11-24T12:00:00.000Z'));
    expect(message.key).toEqual(Buffer.from('4'));
    expect(message.value).toEqual(Buffer.from('not json'));
    expect(message.headers).toEqual({
      'x-a': [Buffer.from('1'), Buffer.from('2')],
      [DEAD_LETTER_HEADERS.topic]: 'notifications',
      [DEAD_LETTER_HEADERS.partition]: '1',
      [DEAD_LETTER_HEADERS.offset]: '11',
      [DEAD_LETTER_HEADERS.reason]: 'the value is not UTF-8 JSON',
      [DEAD_LETTER_HEADERS.failedAt]: '2026-11-24T12:00:00.000Z',
    });
  });

  it('copy headers named like properties of every object (constructor, __proto__, toString) as plain headers', () => {
    const header = (name: string, text: string) => ({ name, value: Buffer.from(text) });
    const message = toDeadLetter(
      {
        position: { topic: 'notifications', partition: 0, offset: 5 },
        record: {
          topic: 'notifications',
          partition: 0,
          offset: 5,
          timestamp: 1,
          key: null,
          value: Buffer.from('{}'),
          headers: [header('constructor', 'c'), header('__proto__', 'p'), header('toString', 't')],
        },
        reason: 'the value is not a notification',
      },
      new Date(0),
    );
    const headers = message.headers ?? {};
    expect(Object.keys(headers).slice(0, 3)).toEqual(['constructor', '__proto__', 'toString']);
    expect(headers.constructor).toEqual(Buffer.from('c'));
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toEqual(Buffer.from('p'));
    expect(headers.toString).toEqual(Buffer.from('t'));
  });

  it('keep what the event held when there was no record to copy', () => {
    const message = toDeadLetter(
      {
        position: { topic: 't', partition: 0, offset: 3 },
        record: undefined,
        raw: { odd: true },
        reason: 'malformed',
      },
      new Date(0),
    );
    expect(message.key).toBeNull();
    expect(message.value).toBe('{"odd":true}');
  });
});

describe('process-notifications metrics', () => {
  it('writes one EMF line per batch: its size, what it stored and what it dead-lettered', async () => {
    const { handler, emf } = setup();
    await handler(loadEvent('msk-poison.json'), context);
    await handler(loadEvent('msk-notifications.json'), context);
    expect(emf.map(valuesOf)).toEqual([
      { RecordsPerBatch: 5, NotificationsStored: 1, NotificationsDeadLettered: 4 },
      { RecordsPerBatch: 4, NotificationsStored: 4, NotificationsDeadLettered: 0 },
    ]);
  });

  it('still writes the batch size when the store fails the invocation, and nothing stored', async () => {
    const { inbox, handler, emf } = setup();
    inbox.failure = new RetriableError('store down');
    await expect(handler(loadEvent('msk-poison.json'), context)).rejects.toThrow('store down');
    expect(emf.map(valuesOf)).toEqual([{ RecordsPerBatch: 5 }]);
  });

  it('counts nothing stored for records reported in a partial batch response', async () => {
    const { inbox, handler, emf } = setup(true);
    inbox.failure = new RetriableError('store down');
    await handler(loadEvent('msk-notifications.json'), context);
    expect(emf.map(valuesOf)).toEqual([{ RecordsPerBatch: 4, NotificationsDeadLettered: 0 }]);
  });
});
