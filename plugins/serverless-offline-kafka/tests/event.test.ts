import { describe, expect, it } from 'vitest';
import {
  buildEvent,
  type EventSourceKind,
  envelopeBytes,
  type LambdaKafkaRecord,
  MAX_EVENT_BYTES,
  recordBytes,
  signedBytes,
  toLambdaHeaders,
  toLambdaRecord,
} from '../src/event.js';
import { message, offsetsOf, text } from './support.js';

const CLUSTER_ARN = 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/0a1b2c3d-1';
const MSK: EventSourceKind = { kind: 'msk', arn: CLUSTER_ARN };
const SELF_MANAGED: EventSourceKind = { kind: 'kafka' };
const BROKERS = ['b-1.demo:9098', 'b-2.demo:9098'];

describe('buildEvent', () => {
  it.each([
    ['MSK', MSK, { eventSource: 'aws:kafka', eventSourceArn: CLUSTER_ARN }],
    ['self-managed Kafka', SELF_MANAGED, { eventSource: 'SelfManagedKafka' }],
  ])('gives a %s event its source fields and nothing else', (_, source, expected) => {
    const event = buildEvent(source, BROKERS, []);
    expect(JSON.parse(JSON.stringify(event))).toEqual({
      ...expected,
      bootstrapServers: 'b-1.demo:9098,b-2.demo:9098',
      records: {},
    });
  });

  it('leaves the eventSourceArn key out of a self-managed event entirely', () => {
    const event = buildEvent(SELF_MANAGED, BROKERS, []);
    expect(Object.keys(event)).not.toContain('eventSourceArn');
    expect(JSON.stringify(event)).not.toContain('eventSourceArn');
  });

  it('joins the bootstrap servers with commas and no spaces', () => {
    expect(buildEvent(MSK, ['a:9092'], []).bootstrapServers).toBe('a:9092');
    expect(buildEvent(MSK, ['a:9092', 'b:9092', 'c:9092'], []).bootstrapServers).toBe(
      'a:9092,b:9092,c:9092',
    );
  });

  it('groups records under "<topic>-<partition>" even when the topic name holds dashes', () => {
    const records = [
      toLambdaRecord('user-events-v2', 3, message(7)),
      toLambdaRecord('user-events-v2', 12, message(9)),
      toLambdaRecord('user-events-v2', 3, message(8)),
    ];
    const event = buildEvent(MSK, BROKERS, records);
    expect(Object.keys(event.records).sort()).toEqual(['user-events-v2-12', 'user-events-v2-3']);
    expect(event.records['user-events-v2-3']?.map((r) => [r.topic, r.partition, r.offset])).toEqual(
      [
        ['user-events-v2', 3, 7],
        ['user-events-v2', 3, 8],
      ],
    );
    expect(event.records['user-events-v2-12']?.map((r) => r.offset)).toEqual([9]);
  });

  it('orders each partition by offset even when records are given out of order', () => {
    const records = [5, 2, 9, 3].map((o) => toLambdaRecord('t', 0, message(o)));
    records.push(toLambdaRecord('t', 1, message(4)), toLambdaRecord('t', 1, message(1)));
    const event = buildEvent(SELF_MANAGED, BROKERS, records);
    expect(event.records['t-0']?.map((r) => r.offset)).toEqual([2, 3, 5, 9]);
    expect(event.records['t-1']?.map((r) => r.offset)).toEqual([1, 4]);
    expect(offsetsOf(event)).toHaveLength(6);
  });
});

describe('toLambdaRecord', () => {
  it('writes partition, offset and timestamp as JSON numbers', () => {
    const record = toLambdaRecord(
      'notifications',
      4,
      message(41, { timestamp: '1764000000123', key: Buffer.from('1') }),
    );
    const json = JSON.parse(JSON.stringify(record));
    expect(json).toMatchObject({
      topic: 'notifications',
      partition: 4,
      offset: 41,
      timestamp: 1_764_000_000_123,
    });
    expect(typeof json.partition).toBe('number');
    expect(typeof json.offset).toBe('number');
    expect(typeof json.timestamp).toBe('number');
  });

  it('encodes key and value as base64 of the raw bytes', () => {
    const raw = Buffer.from([0x00, 0xff, 0x80, 0x7f]);
    const record = toLambdaRecord(
      't',
      0,
      message(0, { key: Buffer.from('1'), value: Buffer.from('{"message":"hi"}') }),
    );
    expect(record.key).toBe('MQ==');
    expect(record.value).toBe('eyJtZXNzYWdlIjoiaGkifQ==');
    const binary = toLambdaRecord('t', 0, message(1, { key: raw, value: raw }));
    expect(binary.key).toBe('AP+Afw==');
    expect(Buffer.from(binary.value ?? '', 'base64')).toEqual(raw);
  });

  it('leaves the key field out when the record has no key', () => {
    const record = toLambdaRecord('t', 0, message(0, { key: null }));
    expect(Object.keys(record)).not.toContain('key');
    expect(JSON.stringify(record)).not.toContain('"key"');
  });

  it('keeps an empty key as an empty string (it is not a null key)', () => {
    const record = toLambdaRecord('t', 0, message(0, { key: Buffer.alloc(0) }));
    expect(record).toHaveProperty('key', '');
  });

  it('writes "value": null for a tombstone, keeping the value key in the JSON', () => {
    const record = toLambdaRecord('t', 0, message(0, { value: null }));
    expect(JSON.stringify(record)).toContain('"value":null');
    expect(JSON.parse(JSON.stringify(record))).toHaveProperty('value', null);
    expect(text(record.key)).toBe('key-0');
  });

  it.each([
    ['no batch context', undefined, 'CREATE_TIME'],
    ['timestamp type 0', { timestampType: 0 }, 'CREATE_TIME'],
    ['timestamp type 1', { timestampType: 1 }, 'LOG_APPEND_TIME'],
  ])('reads the timestamp type from %s as %s', (_, batchContext, expected) => {
    const record = toLambdaRecord('t', 0, { ...message(0), batchContext });
    expect(record.timestampType).toBe(expected);
  });

  it('always writes headers as an array, empty when the record has none', () => {
    const withoutHeaders = { ...message(0) };
    delete withoutHeaders.headers;
    expect(toLambdaRecord('t', 0, withoutHeaders).headers).toEqual([]);
    expect(toLambdaRecord('t', 0, message(1, { headers: {} })).headers).toEqual([]);
  });
});

describe('headers', () => {
  it.each([
    ['ASCII text', 'hi', [104, 105]],
    ['"ë" (UTF-8 0xC3 0xAB)', 'ë', [-61, -85]],
    ['byte 0xFF', Buffer.from([0xff]), [-1]],
    ['byte 0x80', Buffer.from([0x80]), [-128]],
    ['byte 0x7F', Buffer.from([0x7f]), [127]],
    ['byte 0x00', Buffer.from([0x00]), [0]],
    ['an empty value', Buffer.alloc(0), []],
  ])('encodes %s as signed Java bytes', (_, value, expected) => {
    expect(signedBytes(value)).toEqual(expected);
  });

  it('gives each header its own one-entry object, in the order kafkajs hands them over', () => {
    const headers = toLambdaHeaders({
      'content-type': Buffer.from('application/json'),
      lang: 'ë',
    });
    expect(headers).toEqual([
      {
        'content-type': [
          97, 112, 112, 108, 105, 99, 97, 116, 105, 111, 110, 47, 106, 115, 111, 110,
        ],
      },
      { lang: [-61, -85] },
    ]);
    for (const header of headers) expect(Object.keys(header)).toHaveLength(1);
  });

  it('splits a repeated header name (folded into an array by kafkajs) into separate objects', () => {
    const headers = toLambdaHeaders({
      trace: [Buffer.from('a'), Buffer.from([0xff])],
      other: Buffer.from('x'),
    });
    expect(headers).toEqual([{ trace: [97] }, { trace: [-1] }, { other: [120] }]);
  });

  it('writes headers into the record as arrays of numbers, never base64', () => {
    const record = toLambdaRecord('t', 0, message(0, { headers: { lang: Buffer.from('ë') } }));
    expect(JSON.parse(JSON.stringify(record)).headers).toEqual([{ lang: [-61, -85] }]);
  });
});

describe('sizes', () => {
  const recordsIn = (partition: number) => [
    toLambdaRecord('notifications', partition, message(10)),
    toLambdaRecord(
      'notifications',
      partition,
      message(11, {
        key: null,
        value: Buffer.from('{"message":"héllo wörld 👋"}'),
        headers: { lang: 'ë', trace: [Buffer.from([0xff]), Buffer.from('x')] },
      }),
    ),
    toLambdaRecord('notifications', partition, message(12, { value: null })),
  ];
  const serializedBytes = (records: LambdaKafkaRecord[]) =>
    Buffer.byteLength(JSON.stringify(buildEvent(MSK, BROKERS, records)));

  it('counts exactly the bytes each record after the first adds to the serialized event', () => {
    const records = recordsIn(2);
    for (let i = 1; i < records.length; i++) {
      const record = records[i];
      if (!record) throw new Error('missing record');
      const added = serializedBytes(records.slice(0, i + 1)) - serializedBytes(records.slice(0, i));
      expect(recordBytes(record)).toBe(added);
    }
  });

  it('counts one separator byte too many for the first record of a group, never too few', () => {
    const [first] = recordsIn(2);
    if (!first) throw new Error('missing record');
    const added = serializedBytes([first]) - serializedBytes([]);
    // The first record also brings its group key, which the envelope accounts for.
    const groupKey = Buffer.byteLength('"notifications-2":[]');
    expect(recordBytes(first)).toBe(added - groupKey + 1);
  });

  it.each([
    ['the widest partition number', 2_147_483_647, 1],
    ['partition 0', 0, 1 + 9],
  ])(
    'estimates a whole event with %s from envelope and records without underestimating',
    (_, partition, slack) => {
      const records = recordsIn(partition);
      const estimate =
        envelopeBytes(MSK, BROKERS, 'notifications') +
        records.reduce((n, r) => n + recordBytes(r), 0);
      // The envelope reserves room for the widest partition number in the group key; the only
      // other slack is the first record's separator.
      expect(estimate - serializedBytes(records)).toBe(slack);
    },
  );

  it('reserves room for one group key per partition', () => {
    const one = envelopeBytes(SELF_MANAGED, BROKERS, 'notifications', 1);
    const three = envelopeBytes(SELF_MANAGED, BROKERS, 'notifications', 3);
    expect(three - one).toBe(2 * (one - envelopeBytes(SELF_MANAGED, BROKERS, 'notifications', 0)));
    expect(envelopeBytes(MSK, BROKERS, 'notifications')).toBeGreaterThan(one);
  });

  it('caps events at Lambda’s 6 MB synchronous payload limit', () => {
    expect(MAX_EVENT_BYTES).toBe(6 * 1024 * 1024);
  });
});
