import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRegistry, startApicurio, startMoto } from '../../scripts/lib/registries.js';
import { AVRO_SCHEMA_V2 } from '../fixtures/registry-service/schemas.js';
import { readRecords, unique } from '../helpers/kafka.js';
import { type Offline, startOffline } from '../helpers/offline.js';
import { confluentSerializers, glueSerializers } from '../helpers/schema-registry.js';
import { brokers, testKafka } from '../helpers/test-broker.js';
import {
  freePort,
  startToxiproxy,
  type ToxicProxy,
  type ToxiproxyServer,
} from '../helpers/toxiproxy.js';
import { until } from '../helpers/wait.js';

/**
 * Schema registries, end to end: a real `sls offline start` of tests/fixtures/registry-service,
 * whose mappings read a real Apicurio Registry (its Confluent-compatible API) and moto's AWS Glue
 * schema registry API, consuming records produced by Confluent's serializers (and framed as
 * Glue's serde frames them). The fixture's function reads every record with Powertools' Kafka
 * consumer utility and writes what it decoded to RECORD_FILE.
 */

const FIXTURE = join(import.meta.dirname, '../fixtures/registry-service');
const MAPPINGS = 9;

interface SchemaMetadata {
  dataFormat: string;
  schemaId: string;
}
interface Decoded {
  fn: string;
  partition: number;
  offset: number;
  key: unknown;
  value: unknown;
  keySchemaMetadata?: SchemaMetadata;
  valueSchemaMetadata?: SchemaMetadata;
  raw: string | null;
}

const notification = (n: number, message = `hello ${n}`) => ({ toID: 'emma', message, n });

describe('serverless-offline-kafka with schema registries (Apicurio, moto’s Glue)', () => {
  const kafka: Kafka = testKafka('registry-e2e');
  let admin: Admin;
  let producer: Producer;
  let offline: Offline | undefined;
  let apicurio: RunningRegistry | undefined;
  let moto: RunningRegistry | undefined;
  let toxiproxy: ToxiproxyServer | undefined;
  let registryProxy: ToxicProxy;
  let serializers: Awaited<ReturnType<typeof confluentSerializers>>;
  let glue: Awaited<ReturnType<typeof glueSerializers>>;
  const ids: Record<string, number> = {};
  const dir = mkdtempSync(join(tmpdir(), 'registry-e2e-'));
  const recordFile = join(dir, 'decoded.jsonl');
  const destinationsDir = join(dir, 'destinations');
  const topics = {
    avro: unique('reg-avro'),
    proto: unique('reg-proto'),
    json: unique('reg-json'),
    down: unique('reg-down'),
    glue: unique('reg-glue'),
    dlq: unique('reg-dlq'),
  };
  /** What the avro topic holds: values by offset (offset 2 names a schema the registry lacks). */
  const avroValues = [
    notification(1, 'urgent: first'),
    notification(2, 'not urgent'),
    undefined,
    notification(3, 'urgent: third'),
  ];
  const avroBytes: Buffer[] = [];
  const protoBytes: Buffer[] = [];

  const decoded = (fn: string): Decoded[] =>
    existsSync(recordFile)
      ? readFileSync(recordFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Decoded)
          .filter((d) => d.fn === `registry-fixture-test-${fn}`)
      : [];
  const produce = (
    topic: string,
    messages: { key?: Buffer | string | null; value: Buffer | null; partition?: number }[],
  ) => producer.send({ topic, acks: -1, messages: messages.map((m) => ({ partition: 0, ...m })) });

  beforeAll(async () => {
    // Each kept as soon as it runs, so that afterAll stops it whatever fails next.
    await Promise.all([
      (async () => {
        apicurio = await startApicurio({
          port: await freePort(),
          managementPort: await freePort(),
        });
      })(),
      (async () => {
        moto = await startMoto({ port: await freePort() });
      })(),
      (async () => {
        toxiproxy = await startToxiproxy();
      })(),
    ]);
    if (!apicurio || !moto || !toxiproxy) throw new Error('a registry or the proxy did not start');
    registryProxy = await toxiproxy.proxyTo('registry', new URL(apicurio.url).host);
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: Object.values(topics).map((topic) => ({
        topic,
        numPartitions: topic === topics.down ? 2 : 1,
      })),
    });
    producer = kafka.producer();
    await producer.connect();

    serializers = await confluentSerializers(apicurio.url);
    const avroIds = await serializers.registerAvro(topics.avro);
    ids.avro = avroIds.value;
    ids.avroKey = avroIds.key;
    const protoIds = await serializers.registerProtobuf(topics.proto);
    ids.proto = protoIds.value;
    ids.protoKey = protoIds.key;
    const jsonIds = await serializers.registerJson(topics.json);
    ids.json = jsonIds.value;
    ids.jsonKey = jsonIds.key;
    ids.down = (await serializers.registerAvro(topics.down)).value;
    glue = await glueSerializers(moto.url, unique('notifications'));

    const unknownSchema = Buffer.from([0, 0, 0x0f, 0x42, 0x3f, 0x02, 0x41]); // id 999999
    for (const value of avroValues)
      avroBytes.push(value ? await serializers.avro(topics.avro, value) : unknownSchema);
    await produce(
      topics.avro,
      await Promise.all(
        avroBytes.map(async (value) => ({
          key: await serializers.avroKey(topics.avro, 'emma'),
          value,
        })),
      ),
    );
    protoBytes.push(
      await serializers.protobuf(topics.proto, notification(1)),
      await serializers.protobuf(topics.proto, notification(2)),
    );
    await produce(
      topics.proto,
      await Promise.all(
        protoBytes.map(async (value, i) => ({
          key: await serializers.protobufKey(topics.proto, `k${i}`),
          value,
        })),
      ),
    );
    const jsonKey = (i: number) => serializers.jsonKey(topics.json, `k${i}`);
    await produce(topics.json, [
      { key: await jsonKey(0), value: await serializers.json(topics.json, notification(1)) },
      {
        key: await jsonKey(1),
        value: await serializers.invalidJson(topics.json, { toID: 'emma', message: 'x', n: 'two' }),
      },
      { key: await jsonKey(2), value: await serializers.json(topics.json, notification(3)) },
    ]);
    await produce(topics.glue, [
      { key: 'g0', value: glue.avro(notification(1)) },
      { key: 'g1', value: glue.protobuf(notification(2), true) },
      { key: 'g2', value: glue.json(notification(3)) },
    ]);
    await produce(topics.down, [
      { value: await serializers.avro(topics.down, notification(1)), partition: 0 },
      { value: await serializers.avro(topics.down, notification(2)), partition: 1 },
    ]);

    offline = await startOffline(
      FIXTURE,
      {
        KAFKA_BROKERS: brokers().join(','),
        RECORD_FILE: recordFile,
        DESTINATIONS_DIR: destinationsDir,
        GROUP_PREFIX: unique('reg-group'),
        REGISTRY_URL: apicurio.url,
        REGISTRY_PROXY_URL: `http://${registryProxy.listen}${new URL(apicurio.url).pathname}`,
        GLUE_ARN: glue.arn,
        GLUE_ENDPOINT: moto.url,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        ...Object.fromEntries(
          Object.entries(topics).map(([k, t]) => [`TOPIC_${k.toUpperCase()}`, t]),
        ),
      },
      { ready: null },
    );
    await until(
      () => (offline?.output().match(/Kafka \w+: joined group/g) ?? []).length >= MAPPINGS,
      180_000,
      `${MAPPINGS} mappings to join their groups`,
    );
  });

  afterAll(async () => {
    await offline?.stop();
    await producer?.disconnect();
    await admin?.disconnect();
    await Promise.all([apicurio?.stop(), moto?.stop(), toxiproxy?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const deliveredCount = async (fn: string, count: number) => {
    await until(() => decoded(fn).length >= count, 60_000, `${count} records decoded by ${fn}`);
    return decoded(fn);
  };

  it('delivers Avro keys and values as JSON in JSON mode, with their schema metadata, as Powertools reads them', async () => {
    const records = await deliveredCount('avroJson', 3);
    expect(records.map((r) => [r.offset, r.key, r.value])).toEqual([
      [0, 'emma', avroValues[0]],
      [1, 'emma', avroValues[1]],
      [3, 'emma', avroValues[3]],
    ]);
    for (const r of records) {
      expect(r.keySchemaMetadata).toEqual({ dataFormat: 'AVRO', schemaId: String(ids.avroKey) });
      expect(r.valueSchemaMetadata).toEqual({ dataFormat: 'AVRO', schemaId: String(ids.avro) });
      expect(JSON.parse(Buffer.from(r.raw ?? '', 'base64').toString())).toEqual(r.value);
    }
  });

  it('delivers the original Avro bytes without the 5-byte prefix in SOURCE mode, filtered on their deserialized content', async () => {
    const records = await deliveredCount('avroSource', 2);
    expect(records.map((r) => [r.offset, r.key, r.value])).toEqual([
      [0, 'emma', avroValues[0]],
      [3, 'emma', avroValues[3]],
    ]);
    expect(records[0]?.keySchemaMetadata).toEqual({
      dataFormat: 'AVRO',
      schemaId: String(ids.avroKey),
    });
    expect(records.map((r) => r.raw)).toEqual(
      [0, 3].map((o) => avroBytes[o]?.subarray(5).toString('base64')),
    );
    expect(records[0]?.valueSchemaMetadata).toEqual({
      dataFormat: 'AVRO',
      schemaId: String(ids.avro),
    });
  });

  it('sends a record whose schema the registry lacks to the on-failure destination with SCHEMA_NOT_FOUND, and drops it without one', async () => {
    const [failure] = await readRecords(kafka, topics.dlq, 1);
    const envelope = JSON.parse(failure?.message.value?.toString() ?? '{}');
    expect(envelope.requestContext).toMatchObject({
      condition: 'SCHEMA_NOT_FOUND',
      approximateInvokeCount: 0,
    });
    const [record] = Object.values(envelope.payload.records).flat() as {
      offset: number;
      value: string;
    }[];
    expect(record).toMatchObject({ offset: 2, value: avroBytes[2]?.toString('base64') });
    await until(
      () =>
        /Kafka avroSource \S+-0 \[2\]: SCHEMA_NOT_FOUND: the schema 999999 of its value is not in http/.test(
          offline?.output() ?? '',
        ),
      10_000,
      'the dropped record’s log line',
    );
    expect(offline?.output()).toMatch(
      /Kafka avroSource \S+-0 \[2\]: SCHEMA_NOT_FOUND; 1 record\(s\) discarded \(no on-failure destination\)/,
    );
  });

  it('delivers Protobuf as proto3 JSON in JSON mode, and with its message indexes in SOURCE mode', async () => {
    const json = await deliveredCount('protoJson', 2);
    expect(json.map((r) => r.value)).toEqual(
      [1, 2].map((n) => ({ toId: 'emma', message: `hello ${n}`, n })),
    );
    // Keys are Address messages, the file's first: proto3 JSON, and Powertools' decoding below.
    expect(json.map((r) => r.key)).toEqual([{ street: 'k0' }, { street: 'k1' }]);
    expect(json[0]?.keySchemaMetadata).toEqual({
      dataFormat: 'PROTOBUF',
      schemaId: String(ids.protoKey),
    });
    expect(json[0]?.valueSchemaMetadata).toEqual({
      dataFormat: 'PROTOBUF',
      schemaId: String(ids.proto),
    });
    const source = await deliveredCount('protoSource', 2);
    expect(source.map((r) => [r.key, r.value])).toEqual(json.map((r) => [r.key, r.value]));
    // Notification is the file's second message: Confluent's indexes [1] (0x02 0x02) stay.
    expect(source.map((r) => r.raw)).toEqual(
      protoBytes.map((b) => b.subarray(5).toString('base64')),
    );
    expect(Buffer.from(source[0]?.raw ?? '', 'base64').subarray(0, 2)).toEqual(Buffer.from([2, 2]));
  });

  it('validates JSON Schema records: a record that does not match goes to the destination with DESERIALIZATION_ERROR', async () => {
    const json = await deliveredCount('jsonJson', 2);
    expect(json.map((r) => [r.offset, r.key, r.value])).toEqual([
      [0, 'k0', notification(1)],
      [2, 'k2', notification(3)],
    ]);
    expect(json[0]?.keySchemaMetadata).toEqual({
      dataFormat: 'JSON',
      schemaId: String(ids.jsonKey),
    });
    expect(json[0]?.valueSchemaMetadata).toEqual({
      dataFormat: 'JSON',
      schemaId: String(ids.json),
    });
    const source = await deliveredCount('jsonSource', 2);
    expect(source.map((r) => [r.key, r.value])).toEqual(json.map((r) => [r.key, r.value]));
    const sqs = join(destinationsDir, 'sqs', 'registry-failures');
    await until(
      () => existsSync(sqs) && readdirSync(sqs).length === 1,
      10_000,
      'the SQS destination file',
    );
    const [file] = readdirSync(sqs);
    const envelope = JSON.parse(readFileSync(join(sqs, file ?? ''), 'utf8'));
    expect(envelope.requestContext.condition).toBe('DESERIALIZATION_ERROR');
    // An SQS destination gets the batch's records by topic-partition (kafka-on-failure).
    expect(Object.values(envelope.KafkaBatchInfo.recordsInfo)).toEqual([
      expect.objectContaining({ firstRecordOffset: '1', lastRecordOffset: '1' }),
    ]);
    expect(offline?.output()).toMatch(
      /Kafka jsonJson \S+-0 \[1\]: DESERIALIZATION_ERROR: its value does not deserialize with JSON schema \d+: does not match its JSON schema: \/n must be integer/,
    );
  });

  it('reads AWS Glue records (Avro, zlib-compressed Protobuf, JSON Schema) from a Glue registry at its ARN, schema ids as version UUIDs', async () => {
    const json = await deliveredCount('glueJson', 3);
    expect(json.map((r) => r.value)).toEqual([
      notification(1),
      { toId: 'emma', message: 'hello 2', n: 2 },
      notification(3),
    ]);
    expect(json.map((r) => r.valueSchemaMetadata)).toEqual([
      { dataFormat: 'AVRO', schemaId: glue.ids.avro },
      { dataFormat: 'PROTOBUF', schemaId: glue.ids.protobuf },
      { dataFormat: 'JSON', schemaId: glue.ids.json },
    ]);
    const source = await deliveredCount('glueSource', 3);
    expect(source.map((r) => r.value)).toEqual(json.map((r) => r.value));
    // Only the value is validated: the key arrives as produced, without metadata.
    expect(source.map((r) => [r.key, r.keySchemaMetadata])).toEqual([
      ['g0', undefined],
      ['g1', undefined],
      ['g2', undefined],
    ]);
    // The Protobuf payload arrives inflated, its one-varint message index kept.
    expect(Buffer.from(source[1]?.raw ?? '', 'base64')[0]).toBe(1);
  });

  it('keeps records waiting while the registry does not answer, only on their partition, and delivers them all once it does', async () => {
    await deliveredCount('down', 2);
    // Another subject, so that the topic's serializer keeps writing the first schema's id.
    const v2 = await serializers.client.register(`${topics.down}-v2-value`, {
      schemaType: 'AVRO',
      schema: AVRO_SCHEMA_V2,
    });
    expect(v2).not.toBe(ids.down);
    await registryProxy.down();
    // Partition 0 names a schema the mapping has not fetched; partition 1 the one it holds.
    const newSchema = async (n: number) => {
      const bytes = await serializers.avro(topics.down, notification(n));
      bytes.writeUInt32BE(v2, 1);
      return bytes;
    };
    await produce(topics.down, [
      { value: await newSchema(10), partition: 0 },
      { value: await newSchema(11), partition: 0 },
      { value: await serializers.avro(topics.down, notification(12)), partition: 0 },
    ]);
    await produce(topics.down, [
      { value: await serializers.avro(topics.down, notification(20)), partition: 1 },
    ]);
    await until(
      () => decoded('down').some((r) => r.value && (r.value as { n: number }).n === 20),
      30_000,
      'partition 1 going on',
    );
    await until(
      () =>
        (
          offline
            ?.output()
            .match(/Kafka down \S+-0: schema registry unavailable: .* asking again in/g) ?? []
        ).length >= 2,
      30_000,
      'two retry lines for partition 0',
    );
    expect(decoded('down').filter((r) => r.partition === 0)).toHaveLength(1);
    await registryProxy.up();
    const records = await deliveredCount('down', 6);
    expect(
      records.filter((r) => r.partition === 0).map((r) => [r.offset, (r.value as { n: number }).n]),
    ).toEqual([
      [0, 1],
      [1, 10],
      [2, 11],
      [3, 12],
    ]);
    expect(records.find((r) => r.offset === 1 && r.partition === 0)?.valueSchemaMetadata).toEqual({
      dataFormat: 'AVRO',
      schemaId: String(v2),
    });
    expect(offline?.output()).toMatch(/Kafka down \S+-0: schema registry answers again/);
  });
});
