// @ts-check
'use strict';

const { MappingError } = require('./errors');
const { isObject } = require('./util');

/**
 * How a mapping authenticates to its cluster: its `SourceAccessConfigurations`, as the framework
 * compiles them (a `kafka` event's `accessConfigurations`, an `msk` event's `saslScram512`) or as
 * an extension sets them, validated as CreateEventSourceMapping validates them (API
 * SourceAccessConfiguration; kafka-cluster-auth; msk-cluster-auth). Secrets are ARNs here; what
 * they hold is read offline by `secrets.js`.
 *
 * @typedef {'BASIC_AUTH' | 'SASL_SCRAM_256_AUTH' | 'SASL_SCRAM_512_AUTH'} SaslType
 * @typedef {SaslType | 'CLIENT_CERTIFICATE_TLS_AUTH' | 'SERVER_ROOT_CA_CERTIFICATE'} SecretType
 * @typedef {{
 *   sasl: { type: SaslType, secretArn: string } | undefined,
 *   clientCertificate: string | undefined,
 *   serverRootCa: string | undefined,
 * }} Access The secret ARN of each authentication the mapping names, if any.
 */

/** What each type is for, in AWS's words (API SourceAccessConfiguration). */
const KAFKA_TYPES = /** @type {const} */ ({
  BASIC_AUTH: 'SASL/PLAIN',
  SASL_SCRAM_256_AUTH: 'SASL SCRAM-256',
  SASL_SCRAM_512_AUTH: 'SASL SCRAM-512',
  CLIENT_CERTIFICATE_TLS_AUTH: 'mutual TLS',
  SERVER_ROOT_CA_CERTIFICATE: 'the root CA of TLS encryption',
  VPC_SUBNET: 'a VPC subnet',
  VPC_SECURITY_GROUP: 'a VPC security group',
});

/**
 * The types Amazon MSK takes: "SASL_SCRAM_512_AUTH – (Amazon MSK, Self-managed Apache Kafka)",
 * "CLIENT_CERTIFICATE_TLS_AUTH – (Amazon MSK, self-managed Apache Kafka)"; the others are marked
 * self-managed only ("Amazon MSK doesn't support SASL/PLAIN authentication", "Amazon MSK
 * doesn't support self-signed server certificates": msk-cluster-auth).
 */
const MSK_TYPES = new Set(['SASL_SCRAM_512_AUTH', 'CLIENT_CERTIFICATE_TLS_AUTH']);

const SASL_TYPES = new Set(['BASIC_AUTH', 'SASL_SCRAM_256_AUTH', 'SASL_SCRAM_512_AUTH']);

/** osls's `awsSecretsManagerArnString`, anchored: `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`. */
const SECRET_ARN = /^arn:[a-z-]+:secretsmanager:([a-z0-9-]+):\d+:secret:[A-Za-z0-9/_+=.@-]+$/;

/** A mapping that names no authentication. */
const NO_ACCESS = /** @type {Access} */ (
  Object.freeze({ sasl: undefined, clientCertificate: undefined, serverRootCa: undefined })
);

/**
 * @param {unknown} configurations `SourceAccessConfigurations` (merged properties)
 * @param {{ kind: 'msk' | 'kafka', region: string }} context the event's kind; the function's
 *   region
 * @returns {Access}
 */
const accessOf = (configurations, { kind, region }) => {
  if (configurations === undefined) return NO_ACCESS;
  if (!Array.isArray(configurations))
    throw new MappingError('SourceAccessConfigurations must be a list of {Type, URI}');
  /** @type {Map<string, string>} */
  const secrets = new Map();
  for (const [i, entry] of configurations.entries()) {
    const at = `SourceAccessConfigurations[${i}]`;
    if (!isObject(entry)) throw new MappingError(`${at} must be an object with Type and URI`);
    const { Type: type, URI: uri } = entry;
    if (typeof type !== 'string' || !Object.hasOwn(KAFKA_TYPES, type)) {
      throw new MappingError(
        `${at}.Type must be one of ${Object.keys(KAFKA_TYPES).join(', ')} for a Kafka event source; received ${JSON.stringify(type)}`,
      );
    }
    if (kind === 'msk' && !MSK_TYPES.has(type)) {
      throw new MappingError(
        `${at}.Type ${type} (${KAFKA_TYPES[/** @type {keyof typeof KAFKA_TYPES} */ (type)]}) is for self-managed Apache Kafka only; an msk event takes ${[...MSK_TYPES].join(' or ')} (AWS refuses the others)`,
      );
    }
    if (type === 'VPC_SUBNET' || type === 'VPC_SECURITY_GROUP') continue;
    if (typeof uri !== 'string') {
      throw new MappingError(
        `${at}.URI (${type}) must be the secret's ARN: a CloudFormation reference cannot be resolved offline`,
      );
    }
    const arn = SECRET_ARN.exec(uri);
    if (!arn) {
      throw new MappingError(
        `${at}.URI (${type}) must be a Secrets Manager ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>); received ${JSON.stringify(uri)}`,
      );
    }
    // kafka-cluster-auth: "secrets must be stored in the same AWS region as your Lambda function".
    if (arn[1] !== region) {
      throw new MappingError(
        `${at}.URI (${type}) is a secret in ${arn[1]}, but the function is in ${region}; Lambda reads secrets from its own region only`,
      );
    }
    if (secrets.has(type)) throw new MappingError(`${at}: ${type} is given twice; give it once`);
    secrets.set(type, uri);
  }
  const sasl = [...secrets.keys()].filter((type) => SASL_TYPES.has(type));
  const clientCertificate = secrets.get('CLIENT_CERTIFICATE_TLS_AUTH');
  // msk-cluster-auth, "How Lambda chooses a bootstrap broker": a secret for mTLS comes before one
  // for SASL/SCRAM. For self-managed Kafka no page says which of two methods Lambda uses.
  if (kind === 'kafka' && sasl.length + (clientCertificate ? 1 : 0) > 1) {
    throw new MappingError(
      `SourceAccessConfigurations name ${[...sasl, ...(clientCertificate ? ['CLIENT_CERTIFICATE_TLS_AUTH'] : [])].join(' and ')}: give one authentication method (AWS's pages do not say which one Lambda would use)`,
    );
  }
  const [saslType] = sasl;
  return {
    sasl:
      saslType && !clientCertificate
        ? {
            type: /** @type {SaslType} */ (saslType),
            secretArn: /** @type {string} */ (secrets.get(saslType)),
          }
        : undefined,
    clientCertificate,
    serverRootCa: secrets.get('SERVER_ROOT_CA_CERTIFICATE'),
  };
};

/**
 * The `SourceAccessConfigurations` the framework writes for an event (osls's kafka and msk
 * compilers): one entry per ARN of each `accessConfigurations` key, VPC ids prefixed.
 * @param {Record<string, unknown>} event the `kafka` or `msk` event
 * @param {'msk' | 'kafka'} kind
 * @returns {{ Type: string, URI: string }[] | undefined}
 */
const compiledAccess = (event, kind) => {
  if (kind === 'msk') {
    return typeof event.saslScram512 === 'string'
      ? [{ Type: 'SASL_SCRAM_512_AUTH', URI: event.saslScram512 }]
      : undefined;
  }
  if (!isObject(event.accessConfigurations)) return undefined;
  /** @type {Record<string, [string, string]>} */
  const types = {
    vpcSubnet: ['VPC_SUBNET', 'subnet:'],
    vpcSecurityGroup: ['VPC_SECURITY_GROUP', 'security_group:'],
    saslPlainAuth: ['BASIC_AUTH', ''],
    saslScram256Auth: ['SASL_SCRAM_256_AUTH', ''],
    saslScram512Auth: ['SASL_SCRAM_512_AUTH', ''],
    clientCertificateTlsAuth: ['CLIENT_CERTIFICATE_TLS_AUTH', ''],
    serverRootCaCertificate: ['SERVER_ROOT_CA_CERTIFICATE', ''],
  };
  return Object.entries(event.accessConfigurations).flatMap(([key, values]) => {
    const [type, prefix] = types[key] ?? [key, ''];
    return (Array.isArray(values) ? values : [values]).map((value) => ({
      Type: type,
      URI: `${prefix}${value}`,
    }));
  });
};

module.exports = { KAFKA_TYPES, NO_ACCESS, accessOf, compiledAccess };
