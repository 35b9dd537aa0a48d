import type { MSKEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { bytesFromSigned, decodeEvent } from '../../shared/kafka/codec.js';
import { loadEvent } from '../helpers/events.js';

/** The MSK sample whose first record has `headersJson` (JSON text, as AWS sends it) instead. */
const withHeaders = (headersJson: string): MSKEvent => {
  const event = loadEvent<MSKEvent>('msk-notifications.json');
  const [first] = Object.values(event.records).flat();
  if (first) first.headers = JSON.parse(headersJson);
  return event;
};

describe('decoding Lambda Kafka events', () => {
  it('decodes every record of the MSK sample, across partitions, in event order', () => {
    const results = decodeEvent(loadEvent('msk-notifications.json'));
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true]);
    expect(results.map((r) => (r.ok ? [r.record.partition, r.record.offset] : null))).toEqual([
      [0, 41],
      [0, 42],
      [2, 7],
      [1, 3],
    ]);
    const [first] = results;
    if (!first?.ok) throw new Error('expected a valid record');
    expect(first.notification).toMatchObject({ from: { id: 2, name: 'Bruno' }, to: { id: 1 } });
    expect(first.record.key?.toString()).toBe('1');
  });

  it('restores signed header bytes, non-ASCII included', () => {
    const [, second] = decodeEvent(loadEvent('msk-notifications.json'));
    if (!second?.ok) throw new Error('expected a valid record');
    const sentBy = second.record.headers.find((h) => h.name === 'x-sent-by');
    expect(sentBy?.value.toString('utf8')).toBe('Zoë');
    expect(bytesFromSigned([-61, -85, -1, 0, 127, -128])).toEqual(
      Buffer.from([0xc3, 0xab, 0xff, 0, 0x7f, 0x80]),
    );
  });

  it('keeps headers named like properties of every object, in order, and pollutes nothing', () => {
    const event = withHeaders(
      '[{"__proto__":[112]},{"constructor":[99]},{"toString":[116]},{},{"__proto__":[113]}]',
    );
    const [first] = decodeEvent(event);
    expect(first?.ok).toBe(true);
    expect(first?.record?.headers.map((h) => [h.name, h.value.toString()])).toEqual([
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['toString', 't'],
      ['__proto__', 'q'],
    ]);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    expect(Object.keys(Object.prototype)).toEqual([]);
  });

  it('rejects a header that is not an object, naming it', () => {
    const event = withHeaders('[[1,2]]');
    const [first] = decodeEvent(event);
    expect(first?.ok).toBe(false);
    expect(first?.ok === false && first.reason).toMatch(/headers\.0.*a header must be an object/);
  });

  it('decodes a record without a key as a null key', () => {
    const results = decodeEvent(loadEvent('msk-notifications.json'));
    const keyless = results.find((r) => r.ok && r.record.partition === 1);
    expect(keyless?.ok && keyless.record.key).toBeNull();
  });

  it('decodes the self-managed sample the same way', () => {
    const results = decodeEvent(loadEvent('self-managed-notifications.json'));
    expect(results.every((r) => r.ok)).toBe(true);
    const [first] = results;
    const note = first?.ok ? first.record.headers.find((h) => h.name === 'x-note') : undefined;
    expect(note?.value).toEqual(Buffer.from([0xe2, 0x9c, 0x93, 0xff]));
  });

  it.each([
    [10, 'tombstone: the record has no value'],
    [11, 'the value is not UTF-8 JSON'],
    [12, 'the value is not a notification'],
  ])('rejects the poison record at offset %i: %s', (offset, reason) => {
    const result = decodeEvent(loadEvent('msk-poison.json')).find((r) =>
      r.ok ? r.record.offset === offset : r.position.offset === offset,
    );
    expect(result?.ok).toBe(false);
    if (result?.ok !== false) return;
    expect(result.reason).toContain(reason);
    expect(result.position).toEqual({ topic: 'notifications', partition: 1, offset });
  });

  it('rejects bytes that are not UTF-8', () => {
    const event = loadEvent<MSKEvent>('msk-poison.json');
    const record = event.records['notifications-1']?.[1];
    if (!record) throw new Error('sample changed');
    record.value = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64');
    const result = decodeEvent(event)[1];
    expect(result?.ok === false && result.reason).toBe('the value is not UTF-8 JSON');
  });

  it('reports a malformed record with the position taken from its group', () => {
    const event = loadEvent<MSKEvent>('msk-poison.json');
    const records = event.records['notifications-1'] as unknown[];
    records[0] = { offset: 10, value: 42 };
    const [result] = decodeEvent(event);
    expect(result?.ok).toBe(false);
    if (result?.ok !== false) return;
    expect(result.position).toEqual({ topic: 'notifications', partition: 1, offset: 10 });
    expect(result.reason).toMatch(/^malformed Kafka record in the event/);
  });

  it('reads topic names that contain dashes from the group key', () => {
    const event = {
      eventSource: 'aws:kafka',
      records: { 'my-topic-name-12': [{ nonsense: true }] },
    };
    const [result] = decodeEvent(event);
    expect(result?.ok === false && result.position).toMatchObject({
      topic: 'my-topic-name',
      partition: 12,
    });
  });

  it('refuses something that is not a Kafka event', () => {
    expect(() => decodeEvent({ Records: [] })).toThrow(/not a Kafka event/);
  });
});
