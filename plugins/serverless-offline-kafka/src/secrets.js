// @ts-check
'use strict';

const { X509Certificate, createPrivateKey } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { createSecureContext } = require('node:tls');
const { SecretError } = require('./errors');
const { isObject } = require('./util');

/**
 * The secrets a mapping names, read offline. On AWS Lambda reads each ARN from Secrets Manager;
 * offline they come from a JSON object keyed by ARN, with the secret's value as Secrets Manager
 * holds it (an object, or its SecretString): in the `SERVERLESS_OFFLINE_KAFKA_SECRETS`
 * environment variable, or in the file `secretsFile` (`.local/kafka-secrets.json`; keep it out
 * of git). The variable wins for an ARN both hold. A secret is checked as Lambda would use it
 * (the fields kafka-cluster-auth names), and nothing it holds is ever printed: errors name the
 * ARN and the field.
 *
 * @typedef {import('./access').SecretType} SecretType
 * @typedef {{ username: string, password: string }} SaslSecret
 * @typedef {{ certificate: string, privateKey: string, privateKeyPassword: string | undefined }} ClientCertificateSecret
 * @typedef {{ certificate: string }} RootCaSecret
 */

/** Where secrets come from offline: the variable's name. */
const SECRETS_VARIABLE = 'SERVERLESS_OFFLINE_KAFKA_SECRETS';

/** PBES2's OID (1.2.840.113549.1.5.13) as DER: "Lambda supports the PBES1 (but not PBES2)". */
const PBES2_OID = Buffer.from('06092a864886f70d01050d', 'hex');

class SecretStore {
  /** @type {{ variable: string | undefined, file: string }} */
  #origin;
  /** @type {Map<string, { value: unknown, from: string }> | undefined} */
  #secrets;

  /**
   * Reads nothing yet: the sources are read when a mapping first needs a secret, so that a
   * broken secrets file stops only the mappings that use it.
   * @param {{ variable: string | undefined, file: string }} origin the variable's value (if
   *   set) and the file's path; the file need not exist
   */
  constructor(origin) {
    this.#origin = origin;
  }

  /** Every secret offline, read once. */
  #load() {
    if (this.#secrets) return this.#secrets;
    const { variable, file } = this.#origin;
    /** @type {Map<string, { value: unknown, from: string }>} */
    const secrets = new Map();
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'ENOENT')
        throw new SecretError(`cannot read the secrets file ${file}: ${codeOf(error)}`);
    }
    if (text !== undefined) add(secrets, text, file);
    if (variable !== undefined && variable.trim() !== '') add(secrets, variable, SECRETS_VARIABLE);
    this.#secrets = secrets;
    return secrets;
  }

  /**
   * The SASL secret of `arn` (BASIC_AUTH, SASL_SCRAM_256_AUTH, SASL_SCRAM_512_AUTH): "store the
   * user name and password as a secret" (kafka-cluster-auth), `{"username", "password"}`.
   * @param {string} arn
   * @param {SecretType} type
   * @returns {SaslSecret}
   */
  sasl(arn, type) {
    const secret = this.#object(arn, type);
    return {
      username: this.#field(secret, 'username', arn, type),
      password: this.#field(secret, 'password', arn, type),
    };
  }

  /**
   * The CLIENT_CERTIFICATE_TLS_AUTH secret of `arn` (kafka-cluster-auth, "Configuring the client
   * certificate secret"): `certificate` (the chain, client certificate first), `privateKey` in
   * PKCS #8 ("BEGIN PRIVATE KEY" or "BEGIN ENCRYPTED PRIVATE KEY"), and `privateKeyPassword`
   * for an encrypted key, which PBES2 may not encrypt.
   * @param {string} arn
   * @returns {ClientCertificateSecret}
   */
  clientCertificate(arn) {
    const type = 'CLIENT_CERTIFICATE_TLS_AUTH';
    const secret = this.#object(arn, type);
    const certificate = this.#field(secret, 'certificate', arn, type);
    const privateKey = this.#field(secret, 'privateKey', arn, type);
    const password = secret.privateKeyPassword;
    if (password !== undefined && typeof password !== 'string')
      throw new SecretError(`the secret ${arn} (${type}): privateKeyPassword must be a string`);
    const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(privateKey);
    if (!encrypted && !/-----BEGIN PRIVATE KEY-----/.test(privateKey)) {
      throw new SecretError(
        `the secret ${arn} (${type}): privateKey must be in PKCS #8 format (BEGIN PRIVATE KEY or BEGIN ENCRYPTED PRIVATE KEY), as Lambda requires`,
      );
    }
    if (encrypted) {
      if (password === undefined) {
        throw new SecretError(
          `the secret ${arn} (${type}): an encrypted privateKey needs privateKeyPassword`,
        );
      }
      if (pemBytes(privateKey).includes(PBES2_OID)) {
        throw new SecretError(
          `the secret ${arn} (${type}): privateKey is encrypted with PBES2; "Lambda supports the PBES1 (but not PBES2) private key encryption algorithms"`,
        );
      }
    }
    try {
      createPrivateKey({ key: privateKey, passphrase: password });
      createSecureContext({ cert: certificate, key: privateKey, passphrase: password });
    } catch (error) {
      const code = codeOf(error);
      throw new SecretError(
        `the secret ${arn} (${type}): Provided certificate or private key is invalid (${code})${code === 'ERR_OSSL_UNSUPPORTED' || code === 'ERR_OSSL_EVP_UNSUPPORTED' ? "; Node's OpenSSL decrypts this key's PBES1 algorithm only with NODE_OPTIONS=--openssl-legacy-provider" : ''}`,
      );
    }
    return { certificate, privateKey, privateKeyPassword: password };
  }

  /**
   * The SERVER_ROOT_CA_CERTIFICATE secret of `arn`: "a field that contains the Kafka broker's
   * root CA certificate in PEM format", `{"certificate"}`.
   * @param {string} arn
   * @returns {RootCaSecret}
   */
  serverRootCa(arn) {
    const type = 'SERVER_ROOT_CA_CERTIFICATE';
    const certificate = this.#field(this.#object(arn, type), 'certificate', arn, type);
    try {
      new X509Certificate(certificate);
    } catch (error) {
      throw new SecretError(
        `the secret ${arn} (${type}): certificate is not a PEM certificate (${codeOf(error)})`,
      );
    }
    return { certificate };
  }

  /**
   * @param {string} arn
   * @param {SecretType} type
   * @returns {Record<string, unknown>}
   */
  #object(arn, type) {
    const held = this.#load().get(arn);
    if (!held) {
      throw new SecretError(
        `the secret ${arn} (${type}) is not set offline: add it to ${this.#origin.file} or ${SECRETS_VARIABLE} (see the plugin's README, "Secured clusters")`,
      );
    }
    let { value } = held;
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch {
        throw new SecretError(`the secret ${arn} in ${held.from} is a string that is not JSON`);
      }
    }
    if (!isObject(value))
      throw new SecretError(`the secret ${arn} in ${held.from} must be a JSON object`);
    return value;
  }

  /**
   * @param {Record<string, unknown>} secret
   * @param {string} name
   * @param {string} arn
   * @param {SecretType} type
   */
  #field(secret, name, arn, type) {
    const value = secret[name];
    if (typeof value !== 'string' || value === '')
      throw new SecretError(`the secret ${arn} (${type}) has no ${name}`);
    return value;
  }
}

/**
 * Adds the secrets of one source, a JSON object keyed by ARN.
 * @param {Map<string, { value: unknown, from: string }>} secrets
 * @param {string} text
 * @param {string} from
 */
const add = (secrets, text, from) => {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not the parser's message: it may quote the secrets around the error.
    throw new SecretError(`${from} is not JSON: it holds an object keyed by secret ARN`);
  }
  if (!isObject(parsed))
    throw new SecretError(`${from} must hold a JSON object keyed by secret ARN`);
  for (const [arn, value] of Object.entries(parsed)) secrets.set(arn, { value, from });
};

/** @param {string} pem */
const pemBytes = (pem) =>
  Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

/**
 * An error's code (never its message, which for a key or certificate may quote it).
 * @param {unknown} error
 */
const codeOf = (error) =>
  (error && typeof error === 'object' && 'code' in error && String(error.code)) || 'not readable';

module.exports = { SECRETS_VARIABLE, SecretStore };
