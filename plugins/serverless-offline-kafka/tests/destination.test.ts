import { describe, expect, it } from 'vitest';
import { failureMessage } from '../src/destination.js';
import { buildEvent, toLambdaRecord } from '../src/event.js';
import { message, testMapping } from './support.js';

const BROKERS = ['b-1.demo:9098', 'b-2.demo:9098'];
const FUNCTION_ARN = 'arn:aws:lambda:eu-west-1:000000000000:function:svc-dev-consumer';
const NOW = new Date('2026-11-24T10:00:00.000Z');

const mapping = testMapping({ topic: 'notifications', groupId: 'notifications-consumer' });
const record = toLambdaRecord(
  'notifications',
  3,
  message(41, {
    key: Buffer.from([0x01, 0xff, 0x00]),
    value: Buffer.from('{"message":"hi"}'),
    timestamp: '1764000000123',
    headers: { lang: 'ë' },
  }),
);

const envelopeOf = (value: string) => JSON.parse(value);

describe('failureMessage', () => {
  const input = {
    mapping,
    record,
    bootstrapServers: BROKERS,
    condition: 'RetriesExhausted' as const,
    invokeCount: 3,
    functionArn: FUNCTION_ARN,
    error: 'Error: boom',
    now: NOW,
  };

  it('keys the message with the original record’s key bytes', () => {
    expect(failureMessage(input).key).toEqual(Buffer.from([0x01, 0xff, 0x00]));
  });

  it('leaves the key null when the original record had none', () => {
    const keyless = toLambdaRecord('notifications', 3, message(41, { key: null }));
    expect(failureMessage({ ...input, record: keyless }).key).toBeNull();
  });

  it('describes the failure in requestContext', () => {
    const { requestContext } = envelopeOf(failureMessage(input).value);
    expect(requestContext).toEqual({
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      functionArn: `${FUNCTION_ARN}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    });
  });

  it('leaves the payload out for SQS and SNS, which receive the metadata only', () => {
    const envelope = envelopeOf(failureMessage({ ...input, withPayload: false }).value);
    expect(envelope).not.toHaveProperty('payload');
    expect(envelope.KafkaBatchInfo.payloadSize).toBeGreaterThan(0);
  });

  it.each(['RetriesExhausted', 'RecordAgeExceeded', 'MaximumPayloadSizeExceeded'] as const)(
    'carries the condition %s',
    (condition) => {
      expect(
        envelopeOf(failureMessage({ ...input, condition }).value).requestContext.condition,
      ).toBe(condition);
    },
  );

  it('gives each message its own request id', () => {
    const a = envelopeOf(failureMessage(input).value).requestContext.requestId;
    const b = envelopeOf(failureMessage(input).value).requestContext.requestId;
    expect(a).not.toBe(b);
  });

  it('marks an unhandled function error in responseContext, and leaves it out without one', () => {
    expect(envelopeOf(failureMessage(input).value).responseContext).toEqual({
      statusCode: 200,
      executedVersion: '$LATEST',
      functionError: 'Unhandled',
    });
    expect(
      envelopeOf(failureMessage({ ...input, error: undefined }).value).responseContext,
    ).toEqual({
      statusCode: 200,
      executedVersion: '$LATEST',
    });
  });

  it('stamps the version and the time of failure', () => {
    const envelope = envelopeOf(failureMessage(input).value);
    expect(envelope.version).toBe('1.0');
    expect(envelope.timestamp).toBe('2026-11-24T10:00:00.000Z');
  });

  it('describes the record’s place in KafkaBatchInfo', () => {
    const envelope = envelopeOf(failureMessage(input).value);
    expect(envelope.KafkaBatchInfo).toEqual({
      batchSize: 1,
      eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/demo/abc-1',
      bootstrapServers: 'b-1.demo:9098,b-2.demo:9098',
      payloadSize: Buffer.byteLength(JSON.stringify(envelope.payload)),
      recordInfo: { offset: '41', timestamp: '1764000000123' },
    });
  });

  it('holds as payload the original event with only that record', () => {
    const envelope = envelopeOf(failureMessage(input).value);
    expect(envelope.payload).toEqual(
      JSON.parse(JSON.stringify(buildEvent(mapping.source, BROKERS, [record]))),
    );
    expect(envelope.payload).toMatchObject({
      eventSource: 'aws:kafka',
      eventSourceArn: mapping.source.kind === 'msk' ? mapping.source.arn : undefined,
      records: { 'notifications-3': [{ offset: 41, headers: [{ lang: [-61, -85] }] }] },
    });
    expect(Object.values(envelope.payload.records).flat()).toHaveLength(1);
  });

  it('builds a self-managed payload for a self-managed mapping', () => {
    const selfManaged = testMapping({ source: { kind: 'kafka' } });
    const { payload } = envelopeOf(failureMessage({ ...input, mapping: selfManaged }).value);
    expect(payload.eventSource).toBe('SelfManagedKafka');
    expect(payload).not.toHaveProperty('eventSourceArn');
  });
});
