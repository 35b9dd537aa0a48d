import { deflateSync } from 'node:zlib';
import {
  CreateRegistryCommand,
  CreateSchemaCommand,
  type DataFormat,
  GlueClient,
} from '@aws-sdk/client-glue';
import { create, createFileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import {
  AvroSerializer,
  JsonSerializer,
  ProtobufSerializer,
  SchemaRegistryClient,
  SerdeType,
} from '@confluentinc/schemaregistry';
import avsc from 'avsc';
import protobuf from 'protobufjs';
import {
  AVRO_KEY_SCHEMA,
  AVRO_SCHEMA,
  AVRO_SCHEMA_V2,
  JSON_KEY_SCHEMA,
  JSON_SCHEMA,
  type Notification,
  PROTO_SCHEMA,
} from '../fixtures/registry-service/schemas.js';

/**
 * Producers' side of the schema-registry tests and benchmark: records serialized by Confluent's
 * own serializers (`@confluentinc/schemaregistry`) against a Confluent-compatible registry
 * (Apicurio's `/apis/ccompat/v7`), and records in AWS Glue's wire format against a Glue registry
 * (moto), framed as awslabs/aws-glue-schema-registry frames them. Schemas are registered first;
 * the serializers use the latest version (with auto-registration they would register a schema
 * inferred from the object).
 */

const USE_REGISTERED = { autoRegisterSchemas: false, useLatestVersion: true } as const;

/** The Protobuf file of PROTO_SCHEMA as descriptors, for Confluent's Protobuf serializer. */
const protoDescriptors = () => {
  const string = 9;
  const int32 = 5;
  const optional = 1;
  const file = create(FileDescriptorProtoSchema, {
    name: 'notification.proto',
    package: 'demo',
    syntax: 'proto3',
    messageType: [
      {
        name: 'Address',
        field: [{ name: 'street', number: 1, label: optional, type: string, jsonName: 'street' }],
      },
      {
        name: 'Notification',
        field: [
          { name: 'to_id', number: 1, label: optional, type: string, jsonName: 'toId' },
          { name: 'message', number: 2, label: optional, type: string, jsonName: 'message' },
          { name: 'n', number: 3, label: optional, type: int32, jsonName: 'n' },
        ],
      },
    ],
  });
  const registry = createFileRegistry(file, () => undefined);
  const notification = registry.getMessage('demo.Notification');
  const address = registry.getMessage('demo.Address');
  if (!notification || !address) throw new Error('demo.Notification or demo.Address is missing');
  return { notification, address };
};

/** Confluent's serializers for `topic`'s key and value subjects (TopicNameStrategy). */
export const confluentSerializers = async (url: string) => {
  const client = new SchemaRegistryClient({ baseURLs: [url] });
  const register = async (subject: string, schemaType: string, schema: string): Promise<number> =>
    client.register(subject, { schemaType, schema });
  const avro = new AvroSerializer(client, SerdeType.VALUE, USE_REGISTERED);
  const avroKey = new AvroSerializer(client, SerdeType.KEY, USE_REGISTERED);
  const json = new JsonSerializer(client, SerdeType.VALUE, { ...USE_REGISTERED, validate: true });
  const unvalidatedJson = new JsonSerializer(client, SerdeType.VALUE, USE_REGISTERED);
  const jsonKey = new JsonSerializer(client, SerdeType.KEY, { ...USE_REGISTERED, validate: true });
  const proto = new ProtobufSerializer(client, SerdeType.VALUE, USE_REGISTERED);
  const protoKey = new ProtobufSerializer(client, SerdeType.KEY, USE_REGISTERED);
  const descriptors = protoDescriptors();
  proto.registry.add(descriptors.notification);
  protoKey.registry.add(descriptors.address);
  return {
    client,
    /** Registers the value (and Avro key) schemas of `topic`; returns their ids. */
    registerAvro: async (topic: string, schema = AVRO_SCHEMA) => ({
      value: await register(`${topic}-value`, 'AVRO', schema),
      key: await register(`${topic}-key`, 'AVRO', AVRO_KEY_SCHEMA),
    }),
    registerProtobuf: async (topic: string) => ({
      value: await register(`${topic}-value`, 'PROTOBUF', PROTO_SCHEMA),
      key: await register(`${topic}-key`, 'PROTOBUF', PROTO_SCHEMA),
    }),
    registerJson: async (topic: string) => ({
      value: await register(`${topic}-value`, 'JSON', JSON_SCHEMA),
      key: await register(`${topic}-key`, 'JSON', JSON_KEY_SCHEMA),
    }),
    avro: async (topic: string, n: Notification) => Buffer.from(await avro.serialize(topic, n)),
    avroKey: async (topic: string, key: string) => Buffer.from(await avroKey.serialize(topic, key)),
    protobuf: async (topic: string, n: Notification) =>
      Buffer.from(
        await proto.serialize(
          topic,
          create(descriptors.notification, { toId: n.toID, message: n.message, n: n.n } as never),
        ),
      ),
    /** A Protobuf key: an `Address`, the file's first message (message indexes `[0]`). */
    protobufKey: async (topic: string, street: string) =>
      Buffer.from(
        await protoKey.serialize(topic, create(descriptors.address, { street } as never)),
      ),
    jsonKey: async (topic: string, key: string) => Buffer.from(await jsonKey.serialize(topic, key)),
    json: async (topic: string, n: Notification) => Buffer.from(await json.serialize(topic, n)),
    /** A JSON record framed with the topic's schema id but not matching the schema. */
    invalidJson: async (topic: string, value: unknown) =>
      Buffer.from(await unvalidatedJson.serialize(topic, value)),
  };
};

/** `payload` in AWS Glue's wire format: version 3, compression (0 or zlib 5), the version UUID. */
export const glueFramed = (schemaVersionId: string, payload: Buffer, compress = false): Buffer =>
  Buffer.concat([
    Buffer.from([3, compress ? 5 : 0]),
    Buffer.from(schemaVersionId.replace(/-/g, ''), 'hex'),
    compress ? deflateSync(payload) : payload,
  ]);

const avroType = avsc.Type.forSchema(JSON.parse(AVRO_SCHEMA));
const protoType = protobuf.parse(PROTO_SCHEMA).root.lookupType('demo.Notification');

/**
 * A Glue registry named `registryName` with the three schemas (through the AWS SDK, at
 * `endpoint`), and serializers writing Glue's wire format. Protobuf payloads start with the
 * message's index among the file's messages sorted by full name (demo.Address 0,
 * demo.Notification 1), as Glue's ProtobufWireFormatEncoder writes it.
 */
export const glueSerializers = async (endpoint: string, registryName: string) => {
  const glue = new GlueClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const registry = await glue.send(new CreateRegistryCommand({ RegistryName: registryName }));
  const schema = async (name: string, format: DataFormat, definition: string) => {
    const created = await glue.send(
      new CreateSchemaCommand({
        RegistryId: { RegistryName: registryName },
        SchemaName: name,
        DataFormat: format,
        Compatibility: 'BACKWARD',
        SchemaDefinition: definition,
      }),
    );
    if (!created.SchemaVersionId) throw new Error(`Glue created no version of ${name}`);
    return created.SchemaVersionId;
  };
  const ids = {
    avro: await schema('notification-avro', 'AVRO', AVRO_SCHEMA),
    protobuf: await schema('notification-protobuf', 'PROTOBUF', PROTO_SCHEMA),
    json: await schema('notification-json', 'JSON', JSON_SCHEMA),
  };
  return {
    arn: registry.RegistryArn ?? '',
    ids,
    avro: (n: Notification, compress = false) =>
      glueFramed(ids.avro, avroType.toBuffer(n), compress),
    protobuf: (n: Notification, compress = false) =>
      glueFramed(
        ids.protobuf,
        Buffer.concat([
          Buffer.from([1]),
          Buffer.from(protoType.encode({ toId: n.toID, message: n.message, n: n.n }).finish()),
        ]),
        compress,
      ),
    json: (n: Notification, compress = false) =>
      glueFramed(ids.json, Buffer.from(JSON.stringify(n)), compress),
  };
};

export { AVRO_SCHEMA_V2 };
