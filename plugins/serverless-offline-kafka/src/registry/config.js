// @ts-check
'use strict';

const { MappingError } = require('../errors');
const { isObject } = require('../util');

/**
 * A mapping's `SchemaRegistryConfig`, read from its CloudFormation properties
 * (`AmazonManagedKafkaEventSourceConfig` for `msk`, `SelfManagedKafkaEventSourceConfig` for
 * `kafka`) and validated as the API validates it. Sources:
 * - AWS::Lambda::EventSourceMapping SchemaRegistryConfig (CloudFormation): `AccessConfigs` at
 *   most 2, `EventRecordFormat` JSON | SOURCE;
 * - Lambda API KafkaSchemaRegistryConfig: `SchemaRegistryURI` 1..10000 characters of
 *   `[a-zA-Z0-9-\/*:_+=.@-]`, a Glue registry's ARN or a Confluent registry's URL;
 * - KafkaSchemaRegistryAccessConfig: `Type` BASIC_AUTH | CLIENT_CERTIFICATE_TLS_AUTH |
 *   SERVER_ROOT_CA_CERTIFICATE, `URI` a Secrets Manager ARN; none for Glue ("don't provide
 *   authentication details in this object", the function's role reads Glue);
 * - KafkaSchemaValidationConfig: `Attribute` KEY | VALUE;
 * - services-consume-kafka-events: provisioned mode only, one registry per mapping.
 * CloudFormation marks every field optional; the service's answer to a configuration without a
 * URI, a record format or a validated attribute is not documented (CDK requires all three), so
 * they are required here, with a message saying so.
 */

const RECORD_FORMATS = /** @type {const} */ (['JSON', 'SOURCE']);
const ATTRIBUTES = /** @type {const} */ (['KEY', 'VALUE']);
const ACCESS_TYPES = /** @type {const} */ ([
  'BASIC_AUTH',
  'CLIENT_CERTIFICATE_TLS_AUTH',
  'SERVER_ROOT_CA_CERTIFICATE',
]);
/** CloudFormation's maximum for `AccessConfigs`. */
const MAX_ACCESS_CONFIGS = 2;
const MAX_URI_LENGTH = 10_000;
/** KafkaSchemaRegistryConfig.SchemaRegistryURI's pattern, as a full match. */
const URI_PATTERN = /^[a-zA-Z0-9\-/*:_+=.@]+$/;
/** KafkaSchemaRegistryAccessConfig.URI's pattern (a secret's ARN). */
const SECRET_ARN_PATTERN =
  /^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)$/;
/** A Glue registry's ARN: `arn:aws:glue:<region>:<account>:registry/<name>`. */
const GLUE_REGISTRY_ARN =
  /^arn:(aws[a-zA-Z0-9-]*):glue:([a-z]{2}(?:-gov)?-[a-z]+-\d):(\d{12}):registry\/([a-zA-Z0-9_$#.-]{1,255})$/;

/**
 * @typedef {{ type: typeof ACCESS_TYPES[number], uri: string }} AccessConfig
 * @typedef {{ kind: 'confluent', url: string } | { kind: 'glue', arn: string, region: string, account: string, registryName: string }} RegistryLocation
 * @typedef {{
 *   uri: string,
 *   location: RegistryLocation,
 *   recordFormat: typeof RECORD_FORMATS[number],
 *   key: boolean,
 *   value: boolean,
 *   access: AccessConfig[],
 * }} SchemaRegistryConfig `key`/`value`: whether that attribute is validated (and, with the
 *   JSON record format, deserialized).
 */

/** @param {unknown} v */
const show = (v) => JSON.stringify(v) ?? String(v);

/**
 * Where the registry is, from `SchemaRegistryURI`.
 * @param {string} uri
 * @returns {RegistryLocation}
 */
const locationOf = (uri) => {
  if (uri.startsWith('arn:')) {
    const arn = GLUE_REGISTRY_ARN.exec(uri);
    if (!arn) {
      throw new MappingError(
        `SchemaRegistryURI ${show(uri)} is an ARN but not a Glue registry's (arn:aws:glue:<region>:<account>:registry/<name>)`,
      );
    }
    return {
      kind: 'glue',
      arn: uri,
      region: /** @type {string} */ (arn[2]),
      account: /** @type {string} */ (arn[3]),
      registryName: /** @type {string} */ (arn[4]),
    };
  }
  let url;
  try {
    url = new URL(uri);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || !url.hostname) {
    throw new MappingError(
      `SchemaRegistryURI must be a Glue registry's ARN or a Confluent registry's URL (https://host[:port][/path]); received ${show(uri)}`,
    );
  }
  return { kind: 'confluent', url: uri.replace(/\/+$/, '') };
};

/**
 * @param {unknown} raw
 * @param {'Confluent' | 'Glue'} registry
 * @returns {AccessConfig[]}
 */
const accessOf = (raw, registry) => {
  if (raw === undefined) return [];
  if (!Array.isArray(raw))
    throw new MappingError('SchemaRegistryConfig.AccessConfigs must be a list');
  if (raw.length > MAX_ACCESS_CONFIGS) {
    throw new MappingError(
      `SchemaRegistryConfig.AccessConfigs holds at most ${MAX_ACCESS_CONFIGS} entries; received ${raw.length}`,
    );
  }
  if (registry === 'Glue' && raw.length > 0) {
    throw new MappingError(
      'SchemaRegistryConfig.AccessConfigs must be empty for a Glue registry: Lambda reads Glue with the function execution role (KafkaSchemaRegistryAccessConfig)',
    );
  }
  /** @type {AccessConfig[]} */
  const access = [];
  raw.forEach((entry, i) => {
    const where = `SchemaRegistryConfig.AccessConfigs[${i}]`;
    if (!isObject(entry)) throw new MappingError(`${where} must be an object with Type and URI`);
    const type = /** @type {AccessConfig['type']} */ (entry.Type);
    if (!ACCESS_TYPES.includes(type)) {
      throw new MappingError(
        `${where}.Type must be one of ${ACCESS_TYPES.join(', ')}; received ${show(entry.Type)}`,
      );
    }
    if (typeof entry.URI !== 'string' || !SECRET_ARN_PATTERN.test(entry.URI)) {
      throw new MappingError(
        `${where}.URI must be the ARN of a Secrets Manager secret; received ${show(entry.URI)}`,
      );
    }
    if (access.some((a) => a.type === type))
      throw new MappingError(`${where}.Type ${type} is given twice`);
    access.push({ type, uri: entry.URI });
  });
  return access;
};

/**
 * The mapping's schema registry, or `undefined` without one. Throws `MappingError` for a
 * configuration AWS would refuse (or whose meaning AWS does not document).
 * @param {Record<string, unknown>} p the mapping's merged CloudFormation properties
 * @param {'msk' | 'kafka'} source
 * @returns {SchemaRegistryConfig | undefined}
 */
const schemaRegistryOf = (p, source) => {
  const own =
    source === 'msk' ? 'AmazonManagedKafkaEventSourceConfig' : 'SelfManagedKafkaEventSourceConfig';
  const other =
    source === 'msk' ? 'SelfManagedKafkaEventSourceConfig' : 'AmazonManagedKafkaEventSourceConfig';
  if (isObject(p[other]) && p[other].SchemaRegistryConfig !== undefined) {
    throw new MappingError(
      `SchemaRegistryConfig belongs in ${own} for ${source === 'msk' ? 'an msk' : 'a kafka'} event, not in ${other}`,
    );
  }
  const raw = isObject(p[own]) ? p[own].SchemaRegistryConfig : undefined;
  if (raw === undefined) return undefined;
  if (!isObject(raw)) throw new MappingError(`${own}.SchemaRegistryConfig must be an object`);
  if (!isObject(p.ProvisionedPollerConfig)) {
    throw new MappingError(
      'SchemaRegistryConfig needs provisioned mode (provisionedPollerConfig); AWS supports schema registries in provisioned mode only',
    );
  }
  for (const key of Object.keys(raw)) {
    if (
      ![
        'SchemaRegistryURI',
        'EventRecordFormat',
        'AccessConfigs',
        'SchemaValidationConfigs',
      ].includes(key)
    )
      throw new MappingError(
        `SchemaRegistryConfig has no property ${show(key)} (SchemaRegistryURI, EventRecordFormat, AccessConfigs, SchemaValidationConfigs)`,
      );
  }
  const uri = raw.SchemaRegistryURI;
  if (typeof uri !== 'string' || uri.length === 0) {
    throw new MappingError(
      "SchemaRegistryConfig.SchemaRegistryURI is required: a Glue registry's ARN or a Confluent registry's URL",
    );
  }
  if (uri.length > MAX_URI_LENGTH || !URI_PATTERN.test(uri)) {
    throw new MappingError(
      `SchemaRegistryConfig.SchemaRegistryURI must be 1 to ${MAX_URI_LENGTH} characters of letters, digits and -/*:_+=.@; received ${show(uri.slice(0, 200))}`,
    );
  }
  const location = locationOf(uri);
  const recordFormat = /** @type {SchemaRegistryConfig['recordFormat']} */ (raw.EventRecordFormat);
  if (!RECORD_FORMATS.includes(recordFormat)) {
    throw new MappingError(
      `SchemaRegistryConfig.EventRecordFormat must be ${RECORD_FORMATS.join(' or ')}; received ${show(raw.EventRecordFormat)}`,
    );
  }
  const validations = raw.SchemaValidationConfigs;
  if (!Array.isArray(validations) || validations.length === 0) {
    throw new MappingError(
      'SchemaRegistryConfig.SchemaValidationConfigs is required: a list of {Attribute: KEY} and/or {Attribute: VALUE}',
    );
  }
  /** @type {Set<string>} */
  const attributes = new Set();
  validations.forEach((v, i) => {
    const attribute = isObject(v) ? v.Attribute : undefined;
    if (!ATTRIBUTES.includes(/** @type {any} */ (attribute))) {
      throw new MappingError(
        `SchemaRegistryConfig.SchemaValidationConfigs[${i}].Attribute must be ${ATTRIBUTES.join(' or ')}; received ${show(attribute)}`,
      );
    }
    if (attributes.has(/** @type {string} */ (attribute)))
      throw new MappingError(
        `SchemaRegistryConfig.SchemaValidationConfigs lists ${attribute} twice`,
      );
    attributes.add(/** @type {string} */ (attribute));
  });
  return {
    uri,
    location,
    recordFormat,
    key: attributes.has('KEY'),
    value: attributes.has('VALUE'),
    access: accessOf(raw.AccessConfigs, location.kind === 'glue' ? 'Glue' : 'Confluent'),
  };
};

module.exports = { schemaRegistryOf };
