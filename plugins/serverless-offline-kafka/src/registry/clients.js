// @ts-check
'use strict';

const http = require('node:http');
const https = require('node:https');
const { SchemaRegistryError } = require('../errors');

/**
 * How the plugin asks a registry for a schema by the id a record carries:
 * - Confluent (Confluent Cloud, a self-managed Confluent registry, or anything with its API such
 *   as Apicurio's `/apis/ccompat/v7`): `GET <url>/schemas/ids/<id>`; 404 means not found;
 * - AWS Glue: `GetSchemaVersion` by `SchemaVersionId` with the AWS SDK (the developer's
 *   credentials, the registry ARN's region, or `glueEndpoint`); `EntityNotFoundException` means
 *   not found.
 * Anything else (no connection, a timeout, a 5xx, a 401) is the registry being unavailable: a
 * `SchemaRegistryError` with `retriable: true`, which the caller retries.
 *
 * @typedef {import('./formats').DataFormat} DataFormat
 * @typedef {{ format: DataFormat, text: string }} FetchedSchema
 * @typedef {{ label: string, fetch: (schemaId: string) => Promise<FetchedSchema | undefined> }} RegistryClient
 *   `fetch` resolves `undefined` when the registry does not know the id.
 */

const REQUEST_TIMEOUT_MS = 10_000;
/** A schema is text; anything larger than this is not one. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** @param {string} message @param {unknown} [cause] */
const unavailable = (message, cause) => {
  const error = new SchemaRegistryError(message, cause === undefined ? undefined : { cause });
  error.retriable = true;
  return error;
};

/**
 * @param {string} url
 * @param {{ headers?: Record<string, string>, tls?: import('node:tls').SecureContextOptions }} options
 * @returns {Promise<{ status: number, body: string }>}
 */
const get = (url, { headers = {}, tls = {} }) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const request = client.get(
      target,
      {
        headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json', ...headers },
        timeout: REQUEST_TIMEOUT_MS,
        ...(target.protocol === 'https:' ? tls : {}),
      },
      (response) => {
        /** @type {Buffer[]} */
        const chunks = [];
        let bytes = 0;
        response.on('data', (chunk) => {
          bytes += chunk.length;
          if (bytes > MAX_RESPONSE_BYTES) {
            response.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    request.on('timeout', () =>
      request.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)),
    );
    request.on('error', reject);
  });

/** @param {unknown} error */
const reasonOf = (error) => {
  if (!(error instanceof Error)) return String(error);
  const code = /** @type {{ code?: unknown }} */ (error).code;
  return typeof code === 'string' && !error.message.includes(code)
    ? `${code} ${error.message}`
    : error.message;
};

/**
 * A Confluent-compatible registry at `url`. `auth` holds what AccessConfigs' secrets give: a
 * basic-auth header and TLS material.
 * @param {string} url
 * @param {{ headers?: Record<string, string>, tls?: import('node:tls').SecureContextOptions }} [auth]
 * @returns {RegistryClient}
 */
const confluentClient = (url, auth = {}) => ({
  label: url,
  fetch: async (schemaId) => {
    let response;
    try {
      response = await get(`${url}/schemas/ids/${encodeURIComponent(schemaId)}`, auth);
    } catch (error) {
      throw unavailable(`${url} does not answer: ${reasonOf(error)}`, error);
    }
    if (response.status === 404) return undefined;
    if (response.status !== 200) {
      throw unavailable(
        `${url} answered HTTP ${response.status} for schema ${schemaId}: ${response.body.slice(0, 200)}`,
      );
    }
    let body;
    try {
      body = JSON.parse(response.body);
    } catch (error) {
      throw unavailable(`${url} answered schema ${schemaId} with something other than JSON`, error);
    }
    if (typeof body?.schema !== 'string')
      throw unavailable(`${url} answered schema ${schemaId} without its "schema" text`);
    // Confluent's API leaves schemaType out for Avro.
    const type = body.schemaType ?? 'AVRO';
    return {
      format: type === 'PROTOBUF' ? 'PROTOBUF' : type === 'JSON' ? 'JSON' : 'AVRO',
      text: body.schema,
    };
  },
});

/**
 * An AWS Glue registry, through `@aws-sdk/client-glue` (an optional peer dependency of the
 * plugin, needed only for Glue registries).
 * @param {import('./config').RegistryLocation & { kind: 'glue' }} location
 * @param {{ endpoint?: string }} options
 * @returns {RegistryClient}
 */
const glueClient = (location, { endpoint }) => {
  /** @type {typeof import('@aws-sdk/client-glue')} */
  let sdk;
  try {
    sdk = require('@aws-sdk/client-glue');
  } catch (error) {
    throw new SchemaRegistryError(
      'a Glue schema registry needs @aws-sdk/client-glue: npm install --save-dev @aws-sdk/client-glue',
      { cause: error },
    );
  }
  const client = new sdk.GlueClient({
    region: location.region,
    ...(endpoint ? { endpoint } : {}),
    maxAttempts: 1,
  });
  const label = `${location.arn}${endpoint ? ` (at ${endpoint})` : ''}`;
  return {
    label,
    fetch: async (schemaId) => {
      let version;
      try {
        version = await client.send(new sdk.GetSchemaVersionCommand({ SchemaVersionId: schemaId }));
      } catch (error) {
        if (error instanceof Error && error.name === 'EntityNotFoundException') return undefined;
        throw unavailable(`${label} does not answer: ${reasonOf(error)}`, error);
      }
      const format = version.DataFormat;
      if (
        (format !== 'AVRO' && format !== 'PROTOBUF' && format !== 'JSON') ||
        !version.SchemaDefinition
      )
        throw unavailable(
          `${label} answered schema version ${schemaId} without a known format and definition`,
        );
      return { format, text: version.SchemaDefinition };
    },
  };
};

module.exports = { confluentClient, glueClient };
