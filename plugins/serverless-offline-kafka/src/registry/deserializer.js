// @ts-check
'use strict';

const { setTimeout: sleep } = require('node:timers/promises');
const { SchemaRegistryError } = require('../errors');
const { describe } = require('../util');
const { confluentClient, glueClient } = require('./clients');
const { compileSchema } = require('./formats');
const { frameOf } = require('./wire');

/**
 * What a mapping with a `SchemaRegistryConfig` does to each record, in AWS's order
 * (services-consume-kafka-events, "How Lambda performs schema validation"): poll; validate the
 * selected attributes against their schema in the registry (a schema the registry does not have
 * sends the record to the on-failure destination with reason `SCHEMA_NOT_FOUND`); deserialize
 * (a record that does not deserialize goes there with `DESERIALIZATION_ERROR`, "If no DLQ is
 * configured, Lambda drops the message"); filter, on the deserialized content; invoke.
 *
 * Schemas are fetched once per registry and id, and kept (compiled) for the plugin's life, as a
 * registry client caches them. A registry that does not answer is asked again with backoff,
 * with one log line per try: the records wait (only their partition waits), none is skipped.
 *
 * @typedef {import('./config').SchemaRegistryConfig} SchemaRegistryConfig
 * @typedef {import('./clients').RegistryClient} RegistryClient
 * @typedef {import('./formats').Decoder} Decoder
 * @typedef {import('../event').LambdaKafkaRecord} LambdaKafkaRecord
 * @typedef {import('../event').KafkaMessageLike} KafkaMessageLike
 * @typedef {'SCHEMA_NOT_FOUND' | 'DESERIALIZATION_ERROR'} RejectReason
 * @typedef {{ condition: RejectReason, error: string }} Rejection
 * @typedef {{ record: LambdaKafkaRecord, filtered: LambdaKafkaRecord } | { rejected: Rejection }} Admitted
 *   `record`: what the function receives; `filtered`: what filters see (the value's JSON form).
 * @typedef {{
 *   signal: AbortSignal,
 *   retryDelayMs: (attempt: number) => number,
 *   waiting: (error: InstanceType<typeof SchemaRegistryError>, attempt: number, delayMs: number) => void,
 *   resumed: () => void,
 * }} PrepareOptions `waiting`: the registry did not answer, the next try is in `delayMs`;
 *   `resumed`: it answered after waiting.
 */

/** A schema id the registry did not have is asked again after this long, not for each record. */
const NOT_FOUND_TTL_MS = 10_000;

/**
 * The schemas of one registry, shared by every mapping that reads it.
 */
class SchemaCache {
  /** @type {Map<string, { decoder: Decoder } | { unusable: string } | { missingUntil: number }>} */
  #entries = new Map();
  /** @type {Map<string, Promise<void>>} */
  #fetching = new Map();
  /** How many times the registry was asked (for tests and the log). */
  fetches = 0;

  /**
   * @param {RegistryClient} client
   * @param {'confluent' | 'glue'} framing
   * @param {() => number} [now]
   */
  constructor(client, framing, now = Date.now) {
    this.client = client;
    this.framing = framing;
    this.now = now;
  }

  /**
   * What is known of `schemaId`: a decoder, why its schema is unusable, `null` when the registry
   * does not have it, or `undefined` when it has not been asked (or should be asked again).
   * @param {string} schemaId
   * @returns {Decoder | string | null | undefined}
   */
  lookup(schemaId) {
    const entry = this.#entries.get(schemaId);
    if (!entry) return undefined;
    if ('decoder' in entry) return entry.decoder;
    if ('unusable' in entry) return entry.unusable;
    return entry.missingUntil > this.now() ? null : undefined;
  }

  /**
   * Asks the registry for `schemaId` (once, however many records wait for it). Rejects with a
   * retriable SchemaRegistryError when the registry does not answer.
   * @param {string} schemaId
   */
  resolve(schemaId) {
    const pending = this.#fetching.get(schemaId);
    if (pending) return pending;
    const fetching = (async () => {
      this.fetches += 1;
      const fetched = await this.client.fetch(schemaId);
      if (!fetched) {
        this.#entries.set(schemaId, { missingUntil: this.now() + NOT_FOUND_TTL_MS });
        return;
      }
      try {
        this.#entries.set(schemaId, {
          decoder: compileSchema(fetched.format, fetched.text, this.framing),
        });
      } catch (error) {
        this.#entries.set(schemaId, {
          unusable: `its ${fetched.format} schema ${schemaId} cannot be compiled: ${describe(error)}`,
        });
      }
    })().finally(() => this.#fetching.delete(schemaId));
    this.#fetching.set(schemaId, fetching);
    return fetching;
  }
}

/** The attributes a configuration validates, as the record's field names. */
const attributesOf = (/** @type {SchemaRegistryConfig} */ config) =>
  /** @type {('key' | 'value')[]} */ ([
    ...(config.key ? ['key'] : []),
    ...(config.value ? ['value'] : []),
  ]);

/**
 * A mapping's deserializer: its configuration over its registry's schema cache.
 */
class Deserializer {
  #config;
  #cache;
  #frame;
  #attributes;

  /**
   * @param {SchemaRegistryConfig} config
   * @param {SchemaCache} cache
   */
  constructor(config, cache) {
    this.#config = config;
    this.#cache = cache;
    this.#frame = frameOf(config.location.kind);
    this.#attributes = attributesOf(config);
  }

  /** The registry, as log lines name it. */
  get label() {
    return this.#cache.client.label;
  }

  /**
   * Settles once the schema of every selected attribute of `messages` is known (fetched, or
   * known to be missing): resolves true, or false when `signal` aborts first. A registry that
   * does not answer is asked again after `retryDelayMs(attempt)`, forever.
   * @param {readonly KafkaMessageLike[]} messages
   * @param {PrepareOptions} options
   */
  async prepare(messages, { signal, retryDelayMs, waiting, resumed }) {
    /** @type {Set<string>} */
    const unknown = new Set();
    for (const message of messages) {
      for (const attribute of this.#attributes) {
        const bytes = message[attribute];
        if (!bytes) continue;
        const frame = this.#frame(bytes);
        if ('schemaId' in frame && this.#cache.lookup(frame.schemaId) === undefined)
          unknown.add(frame.schemaId);
      }
    }
    let waited = false;
    for (const schemaId of unknown) {
      for (let attempt = 1; ; attempt++) {
        if (signal.aborted) return false;
        try {
          await this.#cache.resolve(schemaId);
          break;
        } catch (error) {
          const failure =
            error instanceof SchemaRegistryError
              ? error
              : new SchemaRegistryError(describe(error), { cause: error });
          const delay = retryDelayMs(attempt);
          waited = true;
          waiting(failure, attempt, delay);
          try {
            await sleep(delay, undefined, { signal });
          } catch {
            return false;
          }
        }
      }
    }
    if (waited) resumed();
    return true;
  }

  /**
   * The record as the function receives it, or why it is rejected. Call after `prepare`.
   * @param {LambdaKafkaRecord} record as fetched
   * @param {KafkaMessageLike} message
   * @returns {Admitted}
   */
  admit(record, message) {
    /** @type {LambdaKafkaRecord} */
    const out = { ...record };
    let filteredValue = record.value;
    for (const attribute of this.#attributes) {
      const bytes = message[attribute];
      // A null key or a tombstone has nothing to validate: it goes on as it is.
      if (!bytes) continue;
      const frame = this.#frame(bytes);
      if ('error' in frame) {
        return {
          rejected: {
            condition: 'DESERIALIZATION_ERROR',
            error: `its ${attribute} is ${frame.error}`,
          },
        };
      }
      const known = this.#cache.lookup(frame.schemaId);
      if (known === null || known === undefined) {
        return {
          rejected: {
            condition: 'SCHEMA_NOT_FOUND',
            error: `the schema ${frame.schemaId} of its ${attribute} is not in ${this.label}`,
          },
        };
      }
      if (typeof known === 'string') {
        return {
          rejected: { condition: 'DESERIALIZATION_ERROR', error: `its ${attribute}: ${known}` },
        };
      }
      let decoded;
      try {
        decoded = known.decode(frame.payload);
      } catch (error) {
        return {
          rejected: {
            condition: 'DESERIALIZATION_ERROR',
            error: `its ${attribute} does not deserialize with ${known.dataFormat} schema ${frame.schemaId}: ${describe(error)}`,
          },
        };
      }
      const json = JSON.stringify(decoded.json);
      const jsonBase64 = Buffer.from(json, 'utf8').toString('base64');
      out[attribute] =
        this.#config.recordFormat === 'JSON' ? jsonBase64 : decoded.source.toString('base64');
      out[`${attribute}SchemaMetadata`] = {
        dataFormat: known.dataFormat,
        schemaId: frame.schemaId,
      };
      if (attribute === 'value') filteredValue = jsonBase64;
    }
    return {
      record: out,
      filtered: filteredValue === out.value ? out : { ...out, value: filteredValue },
    };
  }
}

/**
 * The registries of the plugin's mappings, one schema cache per registry.
 */
class Registries {
  /** @type {Map<string, SchemaCache>} */
  #caches = new Map();
  #glueEndpoint;

  /** @param {{ glueEndpoint?: string }} [options] */
  constructor({ glueEndpoint } = {}) {
    this.#glueEndpoint = glueEndpoint;
  }

  /**
   * The deserializer of a mapping's configuration. Throws SchemaRegistryError when its registry
   * cannot be used at all (a Glue registry without the AWS SDK's Glue client).
   * @param {SchemaRegistryConfig} config
   */
  deserializerFor(config) {
    const { location } = config;
    const key = location.kind === 'glue' ? location.arn : location.url;
    let cache = this.#caches.get(key);
    if (!cache) {
      const client =
        location.kind === 'glue'
          ? glueClient(location, { endpoint: this.#glueEndpoint })
          : confluentClient(location.url);
      cache = new SchemaCache(client, location.kind);
      this.#caches.set(key, cache);
    }
    return new Deserializer(config, cache);
  }
}

module.exports = { Deserializer, Registries, SchemaCache };
