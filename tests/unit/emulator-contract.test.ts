import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { decodeEvent } from '../../shared/kafka/codec.js';

/**
 * Contract between the offline emulator and the consumer: the event the plugin's event builder
 * makes (plugins/serverless-offline-kafka/src/event.js, plain CommonJS that imports nothing from
 * the application) is what `decodeEvent` reads. Records as real producers write them: null keys,
 * tombstones, non-ASCII and binary header bytes, repeated and odd header names, null header
 * values, and several partitions in one event.
 */

const require = createRequire(import.meta.url);
const {
  buildEvent,
  toLambdaRecord,
} = require('../../plugins/serverless-offline-kafka/src/event.js');

const notification = (n: number) =>
  Buffer.from(
    JSON.stringify({
      id: `6f1c2b7e-9a34-4d1e-8f55-${String(n).padStart(12, '0')}`,
      from: { id: 2, name: 'Bruno' },
      to: { id: 1, name: 'Emma' },
      message: `Bruno started following you (${n}).`,
      createdAt: '2026-11-24T12:00:00.000Z',
    }),
  );

type Header = readonly [string, Buffer | null];
const message = (
  offset: number,
  fields: { key?: Buffer | null; value?: Buffer | null; headerList?: Header[] } = {},
) => ({
  key: fields.key === undefined ? Buffer.from(String(offset)) : fields.key,
  value: fields.value === undefined ? notification(offset) : fields.value,
  offset: String(offset),
  timestamp: String(1_795_636_800_000 + offset),
  headers: {},
  headerList: fields.headerList ?? [],
});

const BROKERS = ['b-1.demo:9098', 'b-2.demo:9098'];
const MSK = { kind: 'msk', arn: 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc-1' };

describe('the emulator’s events, read by the consumer’s decoder', () => {
  const records = [
    toLambdaRecord('notifications', 0, message(41, { key: null })),
    toLambdaRecord('notifications', 0, message(42, { value: null })),
    toLambdaRecord(
      'notifications',
      2,
      message(7, {
        headerList: [
          ['x-sent-by', Buffer.from('Zoë')],
          ['x-bin', Buffer.from([0xff, 0x00, 0x7f, 0x80])],
          ['x-sent-by', Buffer.from('Anna')],
          ['constructor', Buffer.from('c')],
          ['x-gone', null],
        ],
      }),
    ),
    toLambdaRecord('notifications', 1, message(3)),
  ];
  const event = JSON.parse(JSON.stringify(buildEvent(MSK, BROKERS, records)));
  const results = decodeEvent(event);

  it('decodes every record of a multi-partition event, partition group by group', () => {
    expect(Object.keys(event.records)).toEqual([
      'notifications-0',
      'notifications-2',
      'notifications-1',
    ]);
    expect(results.map((r) => [r.ok, r.ok ? r.record.partition : r.position.partition])).toEqual([
      [true, 0],
      [false, 0],
      [true, 2],
      [true, 1],
    ]);
  });

  it('reads a record without a key as a null key', () => {
    const [keyless] = results;
    expect(keyless?.ok && keyless.record.key).toBeNull();
    expect(keyless?.ok && keyless.notification.message).toContain('(41)');
  });

  it('reports a tombstone with its position, without throwing', () => {
    const tombstone = results[1];
    expect(tombstone).toMatchObject({
      ok: false,
      position: { topic: 'notifications', partition: 0, offset: 42 },
    });
    expect(tombstone?.ok === false && tombstone.reason).toMatch(/tombstone/);
  });

  it('restores header bytes (signed in the event) in record order, repeated names apart', () => {
    const withHeaders = results[2];
    if (!withHeaders?.ok) throw new Error('expected the record with headers to decode');
    expect(withHeaders.record.headers.map((h) => [h.name, h.value.toString('latin1')])).toEqual([
      ['x-sent-by', Buffer.from('Zoë').toString('latin1')],
      ['x-bin', Buffer.from([0xff, 0x00, 0x7f, 0x80]).toString('latin1')],
      ['x-sent-by', 'Anna'],
      ['constructor', 'c'],
    ]);
  });
});
