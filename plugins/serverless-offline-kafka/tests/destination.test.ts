import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Destination, failureMessage } from '../src/destination.js';
import { buildEvent, toLambdaRecord } from '../src/event.js';
import { Poller } from '../src/poller.js';
import type { Log } from '../src/util.js';
import { fakeHost, message, silent, testMapping, until, within } from './support.js';

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

describe('Destination', () => {
  const dirs: string[] = [];
  const pollers: InstanceType<typeof Poller>[] = [];
  afterEach(async () => {
    for (const poller of pollers.splice(0)) {
      poller.stop();
      await within(poller.done, 2_000, 'a poller stopping after its test');
    }
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  const sqs = testMapping({
    errorHandling: {
      provisioned: true,
      maxRetries: 0,
      onFailure: { kind: 'sqs', name: 'dlq', arn: 'arn:aws:sqs:us-east-1:123456789012:dlq' },
    },
  });
  const destination = (
    forMapping: ReturnType<typeof testMapping>,
    options: { destinationsDir?: string; log?: Log } = {},
  ) =>
    new Destination(forMapping, {
      // Only a Kafka topic destination uses the client.
      kafka: {} as never,
      bootstrapServers: BROKERS,
      functionArn: FUNCTION_ARN,
      destinationsDir: options.destinationsDir ?? tmpdir(),
      retryDelayMs: () => 5,
      log: options.log ?? silent,
    });

  it('keeps retrying a file destination it cannot write, and commits only once it is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'destinations-'));
    dirs.push(dir);
    // A file where the sqs folder should be: mkdir fails until it is removed.
    writeFileSync(join(dir, 'sqs'), 'in the way');
    const errors: string[] = [];
    const fake = fakeHost({
      mapping: sqs,
      respond: () => {
        throw new Error('boom');
      },
      destination: destination(sqs, {
        destinationsDir: dir,
        log: { ...silent, error: (m) => errors.push(m) },
      }),
    });
    const poller = new Poller(fake.host);
    pollers.push(poller);
    poller.enqueue(0, [message(0)]);
    const failedWrites = () =>
      errors.filter((e) => e.includes('cannot write to the sqs destination dlq')).length;
    await until(() => failedWrites() >= 3, 'a few failed writes');
    // Nothing is committed while the destination does not hold the record.
    expect(fake.commits).toEqual([]);
    rmSync(join(dir, 'sqs'));
    await until(() => fake.history.includes('commit 0@1'), 'the commit after the write', 5_000);
    expect(readdirSync(join(dir, 'sqs', 'dlq'))).toHaveLength(1);
  });

  it('stops retrying once the poller stops, so that the records are delivered again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'destinations-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'sqs'), 'in the way');
    const stopping = new AbortController();
    const errors: string[] = [];
    const sending = destination(sqs, {
      destinationsDir: dir,
      log: { ...silent, error: (m) => errors.push(m) },
    }).send(
      [record],
      { condition: 'RetriesExhausted', invokeCount: 1, error: 'boom' },
      stopping.signal,
    );
    await until(() => errors.length >= 1, 'a failed write');
    stopping.abort();
    await expect(sending).rejects.toThrow();
  });

  it('without a destination, logs the records discarded, except oversized ones (already logged)', async () => {
    const errors: string[] = [];
    const none = destination(testMapping(), { log: { ...silent, error: (m) => errors.push(m) } });
    const signal = new AbortController().signal;
    await none.send(
      [record],
      { condition: 'RetriesExhausted', invokeCount: 3, error: 'boom' },
      signal,
    );
    await none.send(
      [record],
      { condition: 'MaximumPayloadSizeExceeded', invokeCount: 0, error: undefined },
      signal,
    );
    expect(errors).toEqual([
      'Kafka consumer notifications-3 [41]: RetriesExhausted; 1 record(s) discarded (no on-failure destination)',
    ]);
  });
});
