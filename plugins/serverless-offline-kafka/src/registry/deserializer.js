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
 * @typedef {{ decoder: Decoder, metadata: import('../event').SchemaMetadata }} Schema
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
  /** @type {Map<string, Schema | { unusable: string } | { missingUntil: number }>} */
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
   * What is known of `schemaId`: its schema, why its schema is unusable, `null` when the registry
   * does not have it, or `undefined` when it has not been asked (or should be asked again).
   * @param {string} schemaId
   * @returns {Schema | string | null | undefined}
   */
  lookup(schemaId) {
    const entry = this.#entries.get(schemaId);
    if (!entry) return undefined;
    if ('decoder' in entry) return entry;
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
        const decoder = compileSchema(fetched.format, fetched.text, this.framing);
        // One metadata object per schema, shared by its records (nothing writes to it).
        const metadata = Object.freeze({ dataFormat: decoder.dataFormat, schemaId });
        this.#entries.set(schemaId, { decoder, metadata });
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
    let { key, value } = record;
    let filteredValue = value;
    /** @type {import('../event').SchemaMetadata | undefined} */
    let keyMetadata;
    /** @type {import('../event').SchemaMetadata | undefined} */
    let valueMetadata;
    // A null key or a tombstone has nothing to validate: it goes on as it is.
    if (this.#config.key && message.key) {
      const read = this.#read('key', message.key);
      if ('rejected' in read) return read;
      key = read.delivered;
      keyMetadata = read.metadata;
    }
    if (this.#config.value && message.value) {
      const read = this.#read('value', message.value);
      if ('rejected' in read) return read;
      value = read.delivered;
      valueMetadata = read.metadata;
      filteredValue = read.json;
    }
    // Built field by field, in the order toLambdaRecord writes them, so that every record of a
    // mapping has the same shape.
    /** @type {LambdaKafkaRecord} */
    const out =
      key === undefined
        ? {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestampType: record.timestampType,
            value,
            headers: record.headers,
          }
        : {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestampType: record.timestampType,
            key,
            value,
            headers: record.headers,
          };
    if (keyMetadata) out.keySchemaMetadata = keyMetadata;
    if (valueMetadata) out.valueSchemaMetadata = valueMetadata;
    return {
      record: out,
      filtered: filteredValue === value ? out : { ...out, value: filteredValue },
    };
  }

  /**
   * One attribute's bytes: what the function receives (base64), what filters see (base64 JSON),
   * and its schema metadata; or why the record is rejected.
   * @param {'key' | 'value'} attribute
   * @param {Buffer} bytes
   * @returns {{ delivered: string, json: string, metadata: import('../event').SchemaMetadata } | { rejected: Rejection }}
   */
  #read(attribute, bytes) {
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
      decoded = known.decoder.decode(frame.payload);
    } catch (error) {
      return {
        rejected: {
          condition: 'DESERIALIZATION_ERROR',
          error: `its ${attribute} does not deserialize with ${known.decoder.dataFormat} schema ${frame.schemaId}: ${describe(error)}`,
        },
      };
    }
    const json = Buffer.from(JSON.stringify(decoded.json), 'utf8').toString('base64');
    return {
      delivered: this.#config.recordFormat === 'JSON' ? json : decoded.source.toString('base64'),
      json,
      metadata: known.metadata,
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
