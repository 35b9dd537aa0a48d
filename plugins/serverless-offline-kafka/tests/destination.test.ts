import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { batchFailureMessage, Destination, failureMessage } from '../src/destination.js';
import { buildEvent, toLambdaRecord } from '../src/event.js';
import { Poller } from '../src/poller.js';
import type { Log } from '../src/util.js';
import { fakeHost, message, SETTLE_MS, silent, testMapping, until, within } from './support.js';

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

/**
 * AWS's destination pages, sentence by sentence: "Using a Kafka topic as an on-failure
 * destination" (kafka-on-failure-destination, its "Failure metadata" example) and "Capturing
 * discarded batches" (kafka-on-failure, its SNS/SQS and S3 example invocation records).
 */
describe('failureMessage (a Kafka topic destination, one message per record)', () => {
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

  it('"Lambda uses the same partition key from the original record when producing to the destination topic"', () => {
    expect(failureMessage(input).key).toEqual(Buffer.from([0x01, 0xff, 0x00]));
  });

  it('"If the original record had no key, Lambda uses Kafka’s default round-robin partitioning": the message has no key', () => {
    const keyless = toLambdaRecord('notifications', 3, message(41, { key: null }));
    expect(failureMessage({ ...input, record: keyless }).key).toBeNull();
  });

  it('describes the failure in requestContext, with the function ARN qualified as in AWS’s example', () => {
    const { requestContext } = envelopeOf(failureMessage(input).value);
    expect(requestContext).toEqual({
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      functionArn: `${FUNCTION_ARN}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    });
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
    ).toEqual({ statusCode: 200, executedVersion: '$LATEST' });
  });

  it('has a null responseContext for a record never invoked (MaximumPayloadSizeExceeded)', () => {
    const envelope = envelopeOf(
      failureMessage({
        ...input,
        condition: 'MaximumPayloadSizeExceeded',
        invokeCount: 0,
        error: undefined,
      }).value,
    );
    expect(envelope.responseContext).toBeNull();
  });

  it('stamps the version and the time of failure', () => {
    const envelope = envelopeOf(failureMessage(input).value);
    expect(envelope.version).toBe('1.0');
    expect(envelope.timestamp).toBe('2026-11-24T10:00:00.000Z');
  });

  it('describes the record in KafkaBatchInfo: the offset as a string, its time in ISO-8601 as AWS’s example shows', () => {
    const envelope = envelopeOf(failureMessage(input).value);
    expect(envelope.KafkaBatchInfo).toEqual({
      batchSize: 1,
      eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/demo/abc-1',
      bootstrapServers: 'b-1.demo:9098,b-2.demo:9098',
      payloadSize: Buffer.byteLength(JSON.stringify(envelope.payload)),
      recordInfo: { offset: '41', timestamp: '2025-11-24T16:00:00.123Z' },
    });
  });

  it('writes a timestamp no date can hold as its number, never failing', () => {
    const odd = { ...record, timestamp: 9e15 };
    expect(
      envelopeOf(failureMessage({ ...input, record: odd }).value).KafkaBatchInfo.recordInfo,
    ).toEqual({ offset: '41', timestamp: '9000000000000000' });
  });

  it('"Kafka destinations receive the actual failed records along with failure metadata": payload is the event with only that record', () => {
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

describe('batchFailureMessage (SQS, SNS and S3: one document per batch)', () => {
  const at = (partition: number, offset: number, ms: number) =>
    toLambdaRecord(
      'notifications',
      partition,
      message(offset, { timestamp: String(Date.parse('2026-11-24T09:00:00.000Z') + ms) }),
    );
  const records = [at(0, 7, 0), at(0, 8, 250), at(0, 9, 500), at(2, 40, 1000)];
  const input = {
    mapping,
    records,
    bootstrapServers: BROKERS,
    condition: 'RetriesExhausted' as const,
    invokeCount: 4,
    functionArn: FUNCTION_ARN,
    error: 'Error: boom',
    withPayload: false,
    now: NOW,
  };

  it('describes the batch in requestContext: an unqualified function ARN and RetryAttemptsExhausted, as the SNS and SQS example shows', () => {
    expect(envelopeOf(batchFailureMessage(input).value).requestContext).toEqual({
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      functionArn: FUNCTION_ARN,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 4,
    });
  });

  it('"responseContext: null if record is MaximumPayloadSizeExceeded"', () => {
    const envelope = envelopeOf(
      batchFailureMessage({
        ...input,
        records: [record],
        condition: 'MaximumPayloadSizeExceeded',
        invokeCount: 0,
        error: undefined,
      }).value,
    );
    expect(envelope.requestContext.condition).toBe('MaximumPayloadSizeExceeded');
    expect(envelope.responseContext).toBeNull();
    expect(envelopeOf(batchFailureMessage(input).value).responseContext).toEqual({
      statusCode: 200,
      executedVersion: '$LATEST',
      functionError: 'Unhandled',
    });
  });

  it('"Each of the keys under recordsInfo contains both the Kafka topic and partition, separated by a hyphen", with first and last offsets and times', () => {
    const envelope = envelopeOf(batchFailureMessage(input).value);
    expect(envelope.version).toBe('1.0');
    expect(envelope.timestamp).toBe('2026-11-24T10:00:00.000Z');
    expect(envelope.KafkaBatchInfo).toEqual({
      batchSize: 4,
      eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/demo/abc-1',
      bootstrapServers: 'b-1.demo:9098,b-2.demo:9098',
      payloadSize: Buffer.byteLength(JSON.stringify(buildEvent(mapping.source, BROKERS, records))),
      recordsInfo: {
        'notifications-0': {
          firstRecordOffset: '7',
          lastRecordOffset: '9',
          firstRecordTimestamp: '2026-11-24T09:00:00.000Z',
          lastRecordTimestamp: '2026-11-24T09:00:00.500Z',
        },
        'notifications-2': {
          firstRecordOffset: '40',
          lastRecordOffset: '40',
          firstRecordTimestamp: '2026-11-24T09:00:01.000Z',
          lastRecordTimestamp: '2026-11-24T09:00:01.000Z',
        },
      },
    });
  });

  it('"Each record sent to the destination is a JSON document containing metadata about the failed invocation": no payload for SQS and SNS', () => {
    expect(envelopeOf(batchFailureMessage(input).value)).not.toHaveProperty('payload');
  });

  it('"the payload field contains the original invocation record as an escaped JSON string" for S3', () => {
    const { payload } = envelopeOf(batchFailureMessage({ ...input, withPayload: true }).value);
    expect(typeof payload).toBe('string');
    expect(JSON.parse(payload)).toEqual(
      JSON.parse(JSON.stringify(buildEvent(mapping.source, BROKERS, records))),
    );
  });

  it('leaves eventSourceArn out for a self-managed mapping', () => {
    const selfManaged = testMapping({ source: { kind: 'kafka' } });
    expect(
      envelopeOf(batchFailureMessage({ ...input, mapping: selfManaged }).value).KafkaBatchInfo,
    ).not.toHaveProperty('eventSourceArn');
  });
});

describe('Destination', () => {
  const dirs: string[] = [];
  const pollers: InstanceType<typeof Poller>[] = [];
  afterEach(async () => {
    for (const poller of pollers.splice(0)) {
      poller.stop();
      await within(poller.done, SETTLE_MS, 'a poller stopping after its test');
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
    const [file] = readdirSync(join(dir, 'sqs', 'dlq'));
    expect(file).toBeDefined();
    const written = JSON.parse(readFileSync(join(dir, 'sqs', 'dlq', String(file)), 'utf8'));
    expect(written.KafkaBatchInfo.recordsInfo).toHaveProperty('notifications-0');
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

  it('writes one document for a batch given up on, holding every record of it (S3: in payload)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'destinations-'));
    dirs.push(dir);
    const s3 = testMapping({
      errorHandling: {
        provisioned: true,
        maxRetries: 0,
        onFailure: { kind: 's3', name: 'failures', arn: 'arn:aws:s3:::failures' },
      },
    });
    const batch = [0, 1, 2].map((offset) =>
      toLambdaRecord('notifications', offset % 2, message(offset)),
    );
    await destination(s3, { destinationsDir: dir }).send(
      batch,
      { condition: 'RetriesExhausted', invokeCount: 1, error: 'boom' },
      new AbortController().signal,
    );
    const files = readdirSync(join(dir, 's3', 'failures'));
    expect(files).toHaveLength(1);
    const written = JSON.parse(readFileSync(join(dir, 's3', 'failures', String(files[0])), 'utf8'));
    expect(written.KafkaBatchInfo.batchSize).toBe(3);
    expect(Object.keys(written.KafkaBatchInfo.recordsInfo).sort()).toEqual([
      'notifications-0',
      'notifications-1',
    ]);
    expect(Object.values(JSON.parse(written.payload).records).flat()).toHaveLength(3);
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
