import { createRequire } from 'node:module';
import { deflateSync } from 'node:zlib';
import avsc from 'avsc';
import protobuf from 'protobufjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type EventContext, mappingOf } from '../src/definition.js';
import { toLambdaRecord } from '../src/event.js';
import { Poller } from '../src/poller.js';
import { schemaRegistryOf } from '../src/registry/config.js';
import { confluentFrame, glueFrame } from '../src/registry/wire.js';
import {
  fakeHost,
  message,
  offsetsOf,
  pluginErrors,
  SETTLE_MS,
  testMapping,
  until,
  within,
} from './support.js';

/**
 * The schema registry step of the emulator without a registry (a fake client stands in for it;
 * tests/e2e/emulator-registry.test.ts uses real ones): configuration as AWS's API validates it,
 * the wire formats, the three formats' decoders, the schema cache, and the poller's order.
 */

const load = createRequire(import.meta.url);
const { Deserializer, SchemaCache } = load(
  '../src/registry/deserializer.js',
) as typeof import('../src/registry/deserializer.js');
const { SchemaRegistryError, MappingError } = pluginErrors;

const CLUSTER_ARN = 'arn:aws:kafka:eu-west-1:123456789012:cluster/demo/0a1b2c3d-1';
const REGISTRY_URL = 'https://registry.example.com:8081/apis/ccompat/v7';
const GLUE_ARN = 'arn:aws:glue:eu-west-1:123456789012:registry/notifications';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry-AbCdEf';
const PROVISIONED = { ProvisionedPollerConfig: { MinimumPollers: 1 } };

/** Properties of an msk mapping with this SchemaRegistryConfig. */
const withRegistry = (config: unknown, extra: Record<string, unknown> = PROVISIONED) => ({
  ...extra,
  AmazonManagedKafkaEventSourceConfig: { SchemaRegistryConfig: config },
});
const valid = (changes: Record<string, unknown> = {}) => ({
  SchemaRegistryURI: REGISTRY_URL,
  EventRecordFormat: 'JSON',
  SchemaValidationConfigs: [{ Attribute: 'VALUE' }],
  ...changes,
});

describe('SchemaRegistryConfig, validated as the API validates it', () => {
  it('reads a Confluent registry from AmazonManagedKafkaEventSourceConfig, as CloudFormation holds it', () => {
    expect(schemaRegistryOf(withRegistry(valid()), 'msk')).toEqual({
      uri: REGISTRY_URL,
      location: { kind: 'confluent', url: REGISTRY_URL },
      recordFormat: 'JSON',
      key: false,
      value: true,
      access: [],
    });
  });

  it('reads a Glue registry from its ARN, with its region and name', () => {
    const config = schemaRegistryOf(
      {
        ...PROVISIONED,
        SelfManagedKafkaEventSourceConfig: {
          SchemaRegistryConfig: valid({
            SchemaRegistryURI: GLUE_ARN,
            EventRecordFormat: 'SOURCE',
            SchemaValidationConfigs: [{ Attribute: 'KEY' }, { Attribute: 'VALUE' }],
          }),
        },
      },
      'kafka',
    );
    expect(config).toMatchObject({
      location: {
        kind: 'glue',
        region: 'eu-west-1',
        account: '123456789012',
        registryName: 'notifications',
      },
      recordFormat: 'SOURCE',
      key: true,
      value: true,
    });
  });

  it('has no registry without SchemaRegistryConfig', () => {
    expect(schemaRegistryOf({ ...PROVISIONED }, 'msk')).toBeUndefined();
  });

  it.each([
    [
      'without provisioned mode',
      withRegistry(valid(), {}),
      /needs provisioned mode \(provisionedPollerConfig\)/,
    ],
    [
      'in the other source’s config',
      { ...PROVISIONED, SelfManagedKafkaEventSourceConfig: { SchemaRegistryConfig: valid() } },
      /belongs in AmazonManagedKafkaEventSourceConfig/,
    ],
    [
      'without a URI',
      withRegistry(valid({ SchemaRegistryURI: undefined })),
      /SchemaRegistryURI is required/,
    ],
    [
      'with a URI outside the API’s pattern',
      withRegistry(valid({ SchemaRegistryURI: 'https://r.example.com/?a=1' })),
      /SchemaRegistryURI must be 1 to 10000 characters/,
    ],
    [
      'with a URI over 10000 characters',
      withRegistry(valid({ SchemaRegistryURI: `https://r.example.com/${'a'.repeat(10_000)}` })),
      /1 to 10000 characters/,
    ],
    [
      'with a URI that is neither a URL nor an ARN',
      withRegistry(valid({ SchemaRegistryURI: 'registry.example.com' })),
      /a Glue registry's ARN or a Confluent registry's URL/,
    ],
    [
      'with an ARN that is not a Glue registry’s',
      withRegistry(
        valid({ SchemaRegistryURI: 'arn:aws:glue:eu-west-1:123456789012:schema/notifications/n' }),
      ),
      /not a Glue registry's/,
    ],
    [
      'with another record format',
      withRegistry(valid({ EventRecordFormat: 'AVRO' })),
      /EventRecordFormat must be JSON or SOURCE; received "AVRO"/,
    ],
    [
      'without a record format',
      withRegistry(valid({ EventRecordFormat: undefined })),
      /EventRecordFormat must be JSON or SOURCE/,
    ],
    [
      'without validation configs',
      withRegistry(valid({ SchemaValidationConfigs: [] })),
      /SchemaValidationConfigs is required/,
    ],
    [
      'with an unknown attribute',
      withRegistry(valid({ SchemaValidationConfigs: [{ Attribute: 'HEADERS' }] })),
      /Attribute must be KEY or VALUE; received "HEADERS"/,
    ],
    [
      'with an attribute twice',
      withRegistry(
        valid({ SchemaValidationConfigs: [{ Attribute: 'VALUE' }, { Attribute: 'VALUE' }] }),
      ),
      /lists VALUE twice/,
    ],
    [
      'with three access configs',
      withRegistry(
        valid({ AccessConfigs: [1, 2, 3].map(() => ({ Type: 'BASIC_AUTH', URI: SECRET_ARN })) }),
      ),
      /at most 2 entries; received 3/,
    ],
    [
      'with an unknown access type',
      withRegistry(valid({ AccessConfigs: [{ Type: 'SASL_SCRAM_512_AUTH', URI: SECRET_ARN }] })),
      /Type must be one of BASIC_AUTH, CLIENT_CERTIFICATE_TLS_AUTH, SERVER_ROOT_CA_CERTIFICATE/,
    ],
    [
      'with an access URI that is not a secret ARN',
      withRegistry(valid({ AccessConfigs: [{ Type: 'BASIC_AUTH', URI: 'my-secret' }] })),
      /URI must be the ARN of a Secrets Manager secret/,
    ],
    [
      'with access configs for Glue',
      withRegistry(
        valid({
          SchemaRegistryURI: GLUE_ARN,
          AccessConfigs: [{ Type: 'BASIC_AUTH', URI: SECRET_ARN }],
        }),
      ),
      /must be empty for a Glue registry/,
    ],
    [
      'with an unknown property',
      withRegistry(valid({ SchemaRegistryUrl: REGISTRY_URL })),
      /has no property "SchemaRegistryUrl"/,
    ],
  ])('refuses a configuration %s, naming what is wrong', (_, properties, message) => {
    expect(() => schemaRegistryOf(properties, 'msk')).toThrow(message);
    expect(() => schemaRegistryOf(properties, 'msk')).toThrow(MappingError);
  });

  it('accepts a basic-auth secret with a root CA, and reaches the mapping through resources.extensions', () => {
    const access = [
      { Type: 'BASIC_AUTH', URI: SECRET_ARN },
      { Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: `${SECRET_ARN}2` },
    ];
    const ctx: EventContext = {
      serviceName: 'svc',
      stage: 'dev',
      region: 'eu-west-1',
      functionKey: 'consumer',
      functionName: 'svc-dev-consumer',
      functionTimeoutS: 30,
      index: 0,
      event: {
        msk: {
          arn: CLUSTER_ARN,
          topic: 'notifications',
          provisionedPollerConfig: { minimumPollers: 1 },
        },
      },
      logicalId: 'ConsumerEventSourceMappingMSKDemoNotifications',
      extension: { Properties: withRegistry(valid({ AccessConfigs: access }), {}) },
    };
    const mapping = mappingOf(ctx);
    expect(mapping?.schemaRegistry?.access).toEqual([
      { type: 'BASIC_AUTH', uri: SECRET_ARN },
      { type: 'SERVER_ROOT_CA_CERTIFICATE', uri: `${SECRET_ARN}2` },
    ]);
    expect(mapping?.warnings.join('\n')).toMatch(
      /AccessConfigs \(BASIC_AUTH, SERVER_ROOT_CA_CERTIFICATE\) are checked but not used offline/,
    );
  });
});

/** 16 bytes of a UUID. */
const uuidBytes = (uuid: string) => Buffer.from(uuid.replace(/-/g, ''), 'hex');
const GLUE_ID = '2aaaece2-f371-4ef6-8b11-845cfe703e39';
const glueFramed = (payload: Buffer, compressed = false) =>
  Buffer.concat([
    Buffer.from([3, compressed ? 5 : 0]),
    uuidBytes(GLUE_ID),
    compressed ? deflateSync(payload) : payload,
  ]);
const confluentFramed = (id: number, payload: Buffer) => {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(id, 1);
  return Buffer.concat([header, payload]);
};

describe('wire formats', () => {
  it('reads the Confluent framing: magic byte 0, a big-endian schema id, then the payload', () => {
    const frame = confluentFrame(confluentFramed(258, Buffer.from('abc')));
    expect(frame).toEqual({ schemaId: '258', payload: Buffer.from('abc') });
  });

  it.each([
    ['another magic byte', Buffer.from([1, 0, 0, 0, 1, 9])],
    ['fewer than 5 bytes', Buffer.from([0, 0, 1])],
  ])('refuses a Confluent frame with %s', (_, bytes) => {
    expect(confluentFrame(bytes)).toEqual({
      error: expect.stringMatching(/not in the Confluent wire format/),
    });
  });

  it('reads the Glue header (version 3, compression, the schema version UUID), inflating zlib payloads', () => {
    expect(glueFrame(glueFramed(Buffer.from('plain')))).toEqual({
      schemaId: GLUE_ID,
      payload: Buffer.from('plain'),
    });
    expect(glueFrame(glueFramed(Buffer.from('squeezed'), true))).toEqual({
      schemaId: GLUE_ID,
      payload: Buffer.from('squeezed'),
    });
  });

  it('refuses a Glue frame with another header version or compression, or a zlib body that does not inflate', () => {
    const wrongVersion = glueFramed(Buffer.from('x'));
    wrongVersion[0] = 2;
    expect(glueFrame(wrongVersion)).toEqual({
      error: expect.stringMatching(/not in the AWS Glue wire format/),
    });
    const badZlib = Buffer.concat([
      Buffer.from([3, 5]),
      uuidBytes(GLUE_ID),
      Buffer.from('not zlib'),
    ]);
    expect(glueFrame(badZlib)).toEqual({ error: expect.stringMatching(/does not inflate/) });
  });
});

const AVRO_SCHEMA = JSON.stringify({
  type: 'record',
  name: 'Notification',
  namespace: 'demo',
  fields: [
    { name: 'toID', type: 'string' },
    { name: 'message', type: 'string' },
    { name: 'n', type: 'int' },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'raw', type: 'bytes', default: '' },
  ],
});
const avroType = avsc.Type.forSchema(JSON.parse(AVRO_SCHEMA), { wrapUnions: false });
const PROTO = `syntax = "proto3";
package demo;
message Address { string street = 1; message Geo { double lat = 1; } }
message Notification { string to_id = 1; string message = 2; int64 n = 3; bytes raw = 4; }
`;
const protoRoot = protobuf.parse(PROTO).root;
const Notification = protoRoot.lookupType('demo.Notification');
const Geo = protoRoot.lookupType('demo.Address.Geo');
const JSON_SCHEMA = JSON.stringify({
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: { toID: { type: 'string' }, n: { type: 'integer' } },
  required: ['toID'],
});

type Fetched = { format: 'AVRO' | 'PROTOBUF' | 'JSON'; text: string } | undefined;

/** A registry client that answers from `schemas` (or throws `down` while set), counting calls. */
const fakeClient = (schemas: Record<string, Fetched>) => {
  const client = {
    label: 'https://registry.test',
    calls: [] as string[],
    down: undefined as Error | undefined,
    fetch: async (id: string) => {
      client.calls.push(id);
      if (client.down) throw client.down;
      return schemas[id];
    },
  };
  return client;
};

const SCHEMAS: Record<string, Fetched> = {
  '1': { format: 'AVRO', text: AVRO_SCHEMA },
  '2': { format: 'PROTOBUF', text: PROTO },
  '3': { format: 'JSON', text: JSON_SCHEMA },
  '4': { format: 'AVRO', text: '{"type": "record", "name": "Broken", "fields": [{"name": "x"}]}' },
  [GLUE_ID]: { format: 'PROTOBUF', text: PROTO },
};

const config = (
  changes: Partial<import('../src/registry/config.js').SchemaRegistryConfig> = {},
) => ({
  uri: 'https://registry.test',
  location: { kind: 'confluent' as const, url: 'https://registry.test' },
  recordFormat: 'JSON' as const,
  key: false,
  value: true,
  access: [],
  ...changes,
});

const noWait = () => ({
  signal: new AbortController().signal,
  retryDelayMs: () => 1,
  waiting: () => undefined,
  resumed: () => undefined,
});

/** Prepares then admits one message, as the poller does. */
const admitOne = async (
  deserializer: InstanceType<typeof Deserializer>,
  msg: ReturnType<typeof message>,
) => {
  await deserializer.prepare([msg], noWait());
  return deserializer.admit(toLambdaRecord('notifications', 0, msg), msg);
};
const json = (base64: string | null | undefined) =>
  JSON.parse(Buffer.from(base64 ?? '', 'base64').toString('utf8'));

describe('Deserializer', () => {
  const avroValue = {
    toID: 'emma',
    message: 'hi',
    n: 300,
    note: null,
    raw: Buffer.from([0xe9, 0x01]),
  };
  const avroMessage = message(7, { value: confluentFramed(1, avroType.toBuffer(avroValue)) });

  it('delivers an Avro value as base64 JSON in JSON mode, with its schema metadata', async () => {
    const d = new Deserializer(config(), new SchemaCache(fakeClient(SCHEMAS), 'confluent'));
    const admitted = await admitOne(d, avroMessage);
    if (!('record' in admitted)) throw new Error(JSON.stringify(admitted));
    expect(json(admitted.record.value)).toEqual({
      toID: 'emma',
      message: 'hi',
      n: 300,
      note: null,
      raw: 'é\u0001',
    });
    expect(admitted.record.valueSchemaMetadata).toEqual({ dataFormat: 'AVRO', schemaId: '1' });
    expect(admitted.record.keySchemaMetadata).toBeUndefined();
    expect(admitted.record.key).toBe(Buffer.from('key-7').toString('base64'));
  });

  it('delivers the Avro bytes without the 5-byte prefix in SOURCE mode; filters still see JSON', async () => {
    const d = new Deserializer(
      config({ recordFormat: 'SOURCE' }),
      new SchemaCache(fakeClient(SCHEMAS), 'confluent'),
    );
    const admitted = await admitOne(d, avroMessage);
    if (!('record' in admitted)) throw new Error(JSON.stringify(admitted));
    expect(Buffer.from(admitted.record.value ?? '', 'base64')).toEqual(
      avroType.toBuffer(avroValue),
    );
    expect(json(admitted.filtered.value)).toMatchObject({ toID: 'emma', n: 300 });
  });

  it('finds the Protobuf message by Confluent message indexes (first message, second, nested), keeping them in SOURCE', async () => {
    const d = new Deserializer(config(), new SchemaCache(fakeClient(SCHEMAS), 'confluent'));
    const notification = Buffer.from(
      Notification.encode({
        toId: 'bruno',
        message: 'yo',
        n: 2 ** 40,
        raw: Buffer.from('hi'),
      }).finish(),
    );
    // [1]: count 1 (zigzag 2), index 1 (zigzag 2).
    const second = await admitOne(
      d,
      message(1, { value: confluentFramed(2, Buffer.concat([Buffer.from([2, 2]), notification])) }),
    );
    if (!('record' in second)) throw new Error(JSON.stringify(second));
    expect(json(second.record.value)).toEqual({
      toId: 'bruno',
      message: 'yo',
      n: String(2 ** 40),
      raw: 'aGk=',
    });
    expect(second.record.valueSchemaMetadata).toEqual({ dataFormat: 'PROTOBUF', schemaId: '2' });
    // [0,0]: Address.Geo (count 2 = zigzag 4, then 0, 0).
    const geo = Buffer.from(Geo.encode({ lat: 1.5 }).finish());
    const nested = await admitOne(
      d,
      message(2, { value: confluentFramed(2, Buffer.concat([Buffer.from([4, 0, 0]), geo])) }),
    );
    expect('record' in nested && json(nested.record.value)).toEqual({ lat: 1.5 });
    // A single 0 byte: the first message (Address).
    const source = new Deserializer(
      config({ recordFormat: 'SOURCE' }),
      new SchemaCache(fakeClient(SCHEMAS), 'confluent'),
    );
    const payload = Buffer.concat([Buffer.from([0]), Buffer.from('0a0478797a7a', 'hex')]);
    const first = await admitOne(source, message(3, { value: confluentFramed(2, payload) }));
    if (!('record' in first)) throw new Error(JSON.stringify(first));
    expect(Buffer.from(first.record.value ?? '', 'base64')).toEqual(payload);
    expect(json(first.filtered.value)).toEqual({ street: 'xyzz' });
  });

  it('finds a Glue Protobuf message by its index among all messages sorted by full name', async () => {
    const d = new Deserializer(
      config({
        location: {
          kind: 'glue',
          arn: GLUE_ARN,
          region: 'eu-west-1',
          account: '123456789012',
          registryName: 'notifications',
        },
      }),
      new SchemaCache(fakeClient(SCHEMAS), 'glue'),
    );
    // demo.Address = 0, demo.Address.Geo = 1, demo.Notification = 2.
    const body = Buffer.concat([
      Buffer.from([2]),
      Buffer.from(Notification.encode({ toId: 'rick' }).finish()),
    ]);
    const admitted = await admitOne(d, message(1, { value: glueFramed(body, true) }));
    if (!('record' in admitted)) throw new Error(JSON.stringify(admitted));
    expect(json(admitted.record.value)).toEqual({ toId: 'rick' });
    expect(admitted.record.valueSchemaMetadata).toEqual({
      dataFormat: 'PROTOBUF',
      schemaId: GLUE_ID,
    });
  });

  it('validates JSON Schema records, and rejects one that does not match (DESERIALIZATION_ERROR)', async () => {
    const d = new Deserializer(config(), new SchemaCache(fakeClient(SCHEMAS), 'confluent'));
    const good = await admitOne(
      d,
      message(1, { value: confluentFramed(3, Buffer.from('{"toID":"lena","n":1}')) }),
    );
    expect('record' in good && json(good.record.value)).toEqual({ toID: 'lena', n: 1 });
    const bad = await admitOne(
      d,
      message(2, { value: confluentFramed(3, Buffer.from('{"n":"one"}')) }),
    );
    expect(bad).toEqual({
      rejected: {
        condition: 'DESERIALIZATION_ERROR',
        error: expect.stringMatching(/does not match its JSON schema/),
      },
    });
  });

  it('validates and deserializes the key too when KEY is selected; a null key and a tombstone pass as they are', async () => {
    const keyType = avsc.Type.forSchema('string');
    const d = new Deserializer(
      config({ key: true }),
      new SchemaCache(
        fakeClient({ ...SCHEMAS, '9': { format: 'AVRO', text: '"string"' } }),
        'confluent',
      ),
    );
    const keyed = await admitOne(
      d,
      message(1, { key: confluentFramed(9, keyType.toBuffer('emma')), value: avroMessage.value }),
    );
    if (!('record' in keyed)) throw new Error(JSON.stringify(keyed));
    expect(json(keyed.record.key)).toBe('emma');
    expect(keyed.record.keySchemaMetadata).toEqual({ dataFormat: 'AVRO', schemaId: '9' });
    const tombstone = await admitOne(d, message(2, { key: null, value: null }));
    if (!('record' in tombstone)) throw new Error(JSON.stringify(tombstone));
    expect(tombstone.record).toMatchObject({ value: null });
    expect(tombstone.record).not.toHaveProperty('key');
    expect(tombstone.record).not.toHaveProperty('valueSchemaMetadata');
  });

  it.each([
    [
      'an id the registry does not have',
      confluentFramed(999, Buffer.from('x')),
      'SCHEMA_NOT_FOUND',
      /the schema 999 of its value is not in https:\/\/registry.test/,
    ],
    [
      'bytes without the framing',
      Buffer.from('{"plain":"json"}'),
      'DESERIALIZATION_ERROR',
      /not in the Confluent wire format/,
    ],
    [
      'bytes that do not match the schema',
      confluentFramed(1, Buffer.from([0x08])),
      'DESERIALIZATION_ERROR',
      /does not deserialize with AVRO schema 1/,
    ],
    [
      'Avro bytes with trailing data',
      confluentFramed(1, Buffer.concat([avroType.toBuffer(avroValue), Buffer.from([1])])),
      'DESERIALIZATION_ERROR',
      /does not deserialize/,
    ],
    [
      'a schema that does not compile',
      confluentFramed(4, Buffer.from([0])),
      'DESERIALIZATION_ERROR',
      /schema 4 cannot be compiled/,
    ],
  ])('rejects a record with %s (%s)', async (_, value, condition, error) => {
    const d = new Deserializer(config(), new SchemaCache(fakeClient(SCHEMAS), 'confluent'));
    expect(await admitOne(d, message(1, { value }))).toEqual({
      rejected: { condition, error: expect.stringMatching(error) },
    });
  });

  it('fetches each schema once, however many records and mappings name it', async () => {
    const client = fakeClient(SCHEMAS);
    const cache = new SchemaCache(client, 'confluent');
    const json = new Deserializer(config(), cache);
    const source = new Deserializer(config({ recordFormat: 'SOURCE' }), cache);
    const batch = Array.from({ length: 50 }, (_, i) => message(i, { value: avroMessage.value }));
    await Promise.all([json.prepare(batch, noWait()), source.prepare(batch, noWait())]);
    await json.prepare([message(99, { value: avroMessage.value })], noWait());
    expect(client.calls).toEqual(['1']);
  });

  it('asks again for a missing id only after a while, not for every record', async () => {
    let now = 0;
    const client = fakeClient(SCHEMAS);
    const d = new Deserializer(config(), new SchemaCache(client, 'confluent', () => now));
    const missing = message(1, { value: confluentFramed(999, Buffer.from('x')) });
    await d.prepare([missing], noWait());
    await d.prepare([missing], noWait());
    expect(client.calls).toEqual(['999']);
    now += 10_001;
    await d.prepare([missing], noWait());
    expect(client.calls).toEqual(['999', '999']);
  });

  it('asks a registry that does not answer again with backoff, saying so each time, until it answers', async () => {
    const client = fakeClient(SCHEMAS);
    const down = new SchemaRegistryError('https://registry.test does not answer: ECONNREFUSED');
    down.retriable = true;
    client.down = down;
    const d = new Deserializer(config(), new SchemaCache(client, 'confluent'));
    const waits: [string, number, number][] = [];
    let resumed = 0;
    const prepared = d.prepare([avroMessage], {
      signal: new AbortController().signal,
      retryDelayMs: (attempt) => attempt * 5,
      waiting: (error, attempt, delay) => {
        waits.push([error.message, attempt, delay]);
        if (attempt === 3) client.down = undefined;
      },
      resumed: () => {
        resumed += 1;
      },
    });
    expect(await within(prepared, SETTLE_MS, 'prepare')).toBe(true);
    expect(waits).toEqual([1, 2, 3].map((a) => [down.message, a, a * 5]));
    expect(resumed).toBe(1);
    expect('record' in d.admit(toLambdaRecord('notifications', 0, avroMessage), avroMessage)).toBe(
      true,
    );
  });
});

const started: InstanceType<typeof Poller>[] = [];
afterEach(async () => {
  for (const poller of started.splice(0)) {
    poller.stop();
    await within(poller.done, SETTLE_MS, 'a poller stopping after its test');
  }
});

describe('Poller with a schema registry', () => {
  const framed = (id: number, n: number) =>
    confluentFramed(
      id,
      avroType.toBuffer({ toID: 'emma', message: `m${n}`, n, note: null, raw: Buffer.alloc(0) }),
    );

  it('makes only the partition whose schema the registry cannot give wait, none skipped, in order', async () => {
    const client = fakeClient({ ...SCHEMAS, '5': { format: 'AVRO', text: AVRO_SCHEMA } });
    const cache = new SchemaCache(client, 'confluent');
    const fake = fakeHost({
      mapping: testMapping({ schemaRegistry: config() }),
      retryDelayMs: () => 5,
    });
    const pauses: string[] = [];
    const poller = new Poller({
      ...fake.host,
      deserializer: new Deserializer(config(), cache),
      pause: (p, reason) => pauses.push(`pause ${p} ${reason ?? 'backlog'}`),
      resume: (p, reason) => pauses.push(`resume ${p} ${reason ?? 'backlog'}`),
    });
    started.push(poller);
    poller.enqueue(0, [message(0, { value: framed(1, 0) })]);
    await until(() => fake.invocations.length === 1, 'partition 0 delivered');
    const down = new SchemaRegistryError('down');
    down.retriable = true;
    client.down = down;
    // Partition 1 names schema 5, not cached: it waits. Partition 0 goes on with schema 1.
    poller.enqueue(1, [message(0, { value: framed(5, 1) }), message(1, { value: framed(1, 2) })]);
    poller.enqueue(0, [message(1, { value: framed(1, 3) })]);
    await until(() => fake.invocations.length === 2, 'partition 0 delivered again');
    expect(Object.keys(fake.invocations[1]?.records ?? {})).toEqual(['notifications-0']);
    await until(
      () => fake.logged.filter((l) => /schema registry unavailable/.test(l.message)).length >= 2,
      'retries',
    );
    expect(fake.logged.find((l) => /schema registry unavailable/.test(l.message))?.message).toMatch(
      /^Kafka consumer notifications-1: schema registry unavailable: down; asking again in 0\.0 s \(attempt 2\); this partition's records wait, none is skipped$/,
    );
    expect(pauses).toEqual(['pause 1 registry']);
    client.down = undefined;
    await until(
      () => fake.invocations.length === 3,
      'partition 1 delivered once the registry answers',
    );
    const event = fake.invocations[2];
    expect(event && offsetsOf(event)).toEqual([0, 1]);
    expect(pauses).toEqual(['pause 1 registry', 'resume 1 registry']);
  });

  it('filters on the deserialized value and sends rejected records to the destination, with the reason, before committing past them', async () => {
    const fake = fakeHost({
      mapping: testMapping({
        schemaRegistry: config({ recordFormat: 'SOURCE' }),
        filter: (record) =>
          JSON.parse(Buffer.from(record.value ?? '', 'base64').toString()).n !== 1,
      }),
    });
    const poller = new Poller({
      ...fake.host,
      deserializer: new Deserializer(
        config({ recordFormat: 'SOURCE' }),
        new SchemaCache(fakeClient(SCHEMAS), 'confluent'),
      ),
    });
    started.push(poller);
    poller.enqueue(0, [
      message(0, { value: framed(1, 0) }),
      message(1, { value: framed(1, 1) }),
      message(2, { value: confluentFramed(999, Buffer.from('x')) }),
      message(3, { value: Buffer.from('not framed') }),
      message(4, { value: framed(1, 4) }),
    ]);
    await until(() => fake.commits.length === 1, 'a commit');
    expect(fake.invocations.map(offsetsOf)).toEqual([[0, 4]]);
    expect(
      fake.givenUp.map((g) => [g.records.map((r) => r.offset), g.condition, g.invokeCount]),
    ).toEqual([
      [[2], 'SCHEMA_NOT_FOUND', 0],
      [[3], 'DESERIALIZATION_ERROR', 0],
    ]);
    // The destination receives the record as it was fetched (framing included).
    expect(fake.givenUp[0]?.records[0]?.value).toBe(
      confluentFramed(999, Buffer.from('x')).toString('base64'),
    );
    expect(fake.history.slice(-3)).toEqual(['giveUp 2', 'giveUp 3', 'commit 0@5']);
  });
});
