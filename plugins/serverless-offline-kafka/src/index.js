// @ts-check
'use strict';

const { resolve } = require('node:path');
// Before kafkajs fetches anything: the plugin's consumers decode records themselves (headers in
// order, every compression codec, one undecodable batch never failing a whole fetch).
const decoder = require('./records').install();
const { Kafka, logLevel } = require('kafkajs');
const { mappingsOf } = require('./definition');
const { Destination } = require('./destination');
const { Invoker } = require('./invoker');
const { Registries } = require('./registry/deserializer');
const { KafkaEventSource } = require('./source');
const { describe } = require('./util');

/**
 * serverless-offline-kafka: runs the `msk` and `kafka` events of a service under
 * `sls offline start`, consuming a real broker the way Lambda's event source mapping does.
 * Options live in `custom.serverless-offline-kafka` (see this folder's README).
 */

const OPTIONS_KEY = 'serverless-offline-kafka';

const DEFAULT_OPTIONS = /** @type {const} */ ({
  brokers: ['127.0.0.1:9092'],
  clientId: 'serverless-offline-kafka',
  retryInitialDelayMs: 1_000,
  // AWS backs off further; offline, a developer whose store is back should not wait half a minute.
  retryMaxDelayMs: 5_000,
  shutdownTimeoutMs: 10_000,
  destinationsDir: '.local/kafka-destinations',
  metricsIntervalMs: 60_000,
});

/**
 * @typedef {{
 *   enabled: boolean,
 *   brokers: string[],
 *   clientId: string,
 *   retryInitialDelayMs: number,
 *   retryMaxDelayMs: number,
 *   shutdownTimeoutMs: number,
 *   destinationsDir: string,
 *   metricsIntervalMs: number,
 *   glueEndpoint: string | undefined,
 * }} PluginOptions
 */

class ServerlessOfflineKafka {
  /** @type {any} */
  #serverless;
  /** @type {Record<string, unknown>} */
  #cliOptions;
  /** @type {import('./util').Log} */
  #log;
  /** @type {InstanceType<typeof KafkaEventSource>[]} */
  #sources = [];
  /** @type {InstanceType<typeof Invoker> | undefined} */
  #invoker;
  /** @type {PluginOptions | undefined} */
  #options;
  /** @type {NodeJS.Timeout | undefined} */
  #metricsTimer;

  /**
   * @param {any} serverless
   * @param {Record<string, unknown>} cliOptions
   * @param {{ log: any }} [utils]
   */
  constructor(serverless, cliOptions, utils) {
    this.#serverless = serverless;
    this.#cliOptions = cliOptions;
    const log = utils?.log ?? console;
    this.#log = {
      notice: (m) => log.notice(m),
      warning: (m) => log.warning(m),
      error: (m) => log.error(m),
      debug: (m) => log.debug(m),
    };
    serverless.configSchemaHandler?.defineCustomProperties?.({
      type: 'object',
      properties: {
        [OPTIONS_KEY]: {
          type: 'object',
          properties: {
            enabled: { type: 'boolean' },
            brokers: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
            clientId: { type: 'string' },
            retryInitialDelayMs: { type: 'number', minimum: 0 },
            retryMaxDelayMs: { type: 'number', minimum: 0 },
            shutdownTimeoutMs: { type: 'number', minimum: 0 },
            destinationsDir: { type: 'string' },
            metricsIntervalMs: { type: 'number', minimum: 0 },
            glueEndpoint: { type: 'string' },
          },
          additionalProperties: false,
        },
      },
    });
    this.hooks = {
      'offline:start:init': () => this.#start(),
      'before:offline:start:end': () => this.#stop(),
      'offline:functionsUpdated:cleanup': () => this.#reload(),
    };
  }

  /** @returns {PluginOptions} */
  #readOptions() {
    const custom = this.#serverless.service.custom?.[OPTIONS_KEY] ?? {};
    const brokers = custom.brokers ?? DEFAULT_OPTIONS.brokers;
    const list = (Array.isArray(brokers) ? brokers : String(brokers).split(','))
      .map((b) => String(b).trim())
      .filter(Boolean);
    return {
      enabled: custom.enabled !== false,
      brokers: list.length > 0 ? list : [...DEFAULT_OPTIONS.brokers],
      clientId: custom.clientId ?? DEFAULT_OPTIONS.clientId,
      retryInitialDelayMs: custom.retryInitialDelayMs ?? DEFAULT_OPTIONS.retryInitialDelayMs,
      retryMaxDelayMs: custom.retryMaxDelayMs ?? DEFAULT_OPTIONS.retryMaxDelayMs,
      shutdownTimeoutMs: custom.shutdownTimeoutMs ?? DEFAULT_OPTIONS.shutdownTimeoutMs,
      destinationsDir: resolve(
        this.#serverless.serviceDir ?? this.#serverless.config?.servicePath ?? process.cwd(),
        custom.destinationsDir ?? DEFAULT_OPTIONS.destinationsDir,
      ),
      metricsIntervalMs: custom.metricsIntervalMs ?? DEFAULT_OPTIONS.metricsIntervalMs,
      glueEndpoint: custom.glueEndpoint,
    };
  }

  async #start() {
    try {
      const options = this.#readOptions();
      this.#options = options;
      if (!options.enabled) return;
      const mappings = mappingsOf(this.#serverless, (functionKey, message) => {
        this.#log.error(`Kafka ${functionKey}: event source not started: ${message}`);
      });
      if (mappings.length === 0) return;
      if (!decoder.installed) {
        this.#log.warning(
          `Kafka: records are decoded by kafkajs itself, because ${decoder.reason}: headers come folded by name (order across names and null values are lost) and only gzip batches decode`,
        );
      }
      for (const m of mappings)
        for (const w of m.warnings) this.#log.warning(`Kafka ${m.functionKey}: ${w}`);

      this.#invoker = await Invoker.create(this.#serverless, this.#offlineOptions(), [
        ...new Set(mappings.map((m) => m.functionKey)),
      ]);
      const kafka = new Kafka({
        clientId: options.clientId,
        brokers: options.brokers,
        logLevel: logLevel.WARN,
        logCreator:
          () =>
          ({ namespace, log }) =>
            this.#log.debug(`kafkajs ${namespace}: ${log.message}`),
      });
      const provider = this.#serverless.getProvider('aws');
      const invoker = this.#invoker;
      /** @param {number} attempt */
      const retryDelayMs = (attempt) =>
        Math.min(
          options.retryMaxDelayMs,
          options.retryInitialDelayMs * 2 ** Math.max(0, attempt - 1),
        );
      const registries = new Registries({ glueEndpoint: options.glueEndpoint });
      for (const mapping of mappings) {
        let deserializer;
        try {
          deserializer =
            mapping.schemaRegistry && registries.deserializerFor(mapping.schemaRegistry);
        } catch (error) {
          this.#log.error(
            `Kafka ${mapping.functionKey}: event source not started: ${describe(error)}`,
          );
          continue;
        }
        const log = levelled(this.#log, mapping.logLevel);
        const destination = new Destination(mapping, {
          kafka,
          bootstrapServers: options.brokers,
          functionArn: `arn:aws:lambda:${provider.getRegion()}:000000000000:function:${mapping.functionName}`,
          destinationsDir: options.destinationsDir,
          retryDelayMs,
          log,
        });
        const source = new KafkaEventSource({
          mapping,
          kafka,
          bootstrapServers: options.brokers,
          invoke: (event) => invoker.invoke(mapping.functionKey, event),
          destination,
          deserializer,
          retryDelayMs,
          log,
        });
        this.#sources.push(source);
        source.start();
      }
      this.#startMetrics(options.metricsIntervalMs);
    } catch (error) {
      // An error thrown from a hook is printed but leaves the servers up; say what failed instead.
      this.#log.error(`Kafka event sources not started: ${describe(error)}`);
    }
  }

  /**
   * MetricsConfig offline: every `intervalMs`, one line per mapping that asks for metrics, with
   * AWS's metric names (EventCount, ErrorCount, and KafkaMetrics' offset lag per partition).
   * @param {number} intervalMs
   */
  #startMetrics(intervalMs) {
    const measured = this.#sources.filter((s) => s.mapping.metrics.length > 0);
    if (intervalMs <= 0 || measured.length === 0) return;
    this.#metricsTimer = setInterval(() => {
      for (const source of measured) this.#log.notice(metricsLine(source));
    }, intervalMs);
    this.#metricsTimer.unref();
  }

  /** serverless-offline's options as it merges them: its custom section, then the CLI. */
  #offlineOptions() {
    const custom = this.#serverless.service.custom?.['serverless-offline'] ?? {};
    return { ...custom, ...this.#cliOptions };
  }

  async #stop() {
    clearInterval(this.#metricsTimer);
    const timeout = this.#options?.shutdownTimeoutMs ?? DEFAULT_OPTIONS.shutdownTimeoutMs;
    try {
      await Promise.all(this.#sources.map((s) => s.stop(timeout)));
      await this.#invoker?.cleanup();
    } catch (error) {
      this.#log.error(`Kafka event sources did not stop cleanly: ${describe(error)}`);
    }
  }

  async #reload() {
    try {
      await this.#invoker?.reload(
        this.#options?.shutdownTimeoutMs ?? DEFAULT_OPTIONS.shutdownTimeoutMs,
      );
    } catch (error) {
      this.#log.error(`Kafka functions not reloaded: ${describe(error)}`);
    }
  }
}

/**
 * The mapping's system logs at its `LoggingConfig.SystemLogLevel` (esm-logging): WARN keeps
 * warnings and errors, INFO adds each invocation, DEBUG adds kafkajs's own messages.
 * @param {import('./util').Log} log
 * @param {'DEBUG' | 'INFO' | 'WARN'} level
 * @returns {import('./util').Log}
 */
const levelled = (log, level) => ({
  notice: level === 'WARN' ? () => undefined : (m) => log.notice(m),
  warning: (m) => log.warning(m),
  error: (m) => log.error(m),
  debug: level === 'DEBUG' ? (m) => log.notice(m) : (m) => log.debug(m),
});

/** @param {InstanceType<typeof KafkaEventSource>} source */
const metricsLine = (source) => {
  const { mapping } = source;
  const m = source.metrics();
  const parts = [];
  if (mapping.metrics.includes('EventCount')) parts.push(`EventCount ${m.events}`);
  if (mapping.metrics.includes('ErrorCount')) parts.push(`ErrorCount ${m.errors}`);
  if (mapping.metrics.includes('KafkaMetrics')) {
    const lag = m.lag.map((p) => `${mapping.topic}-${p.partition} ${p.lag}`).join(', ');
    parts.push(`OffsetLag ${lag || 'no partitions'}`);
  }
  return `Kafka ${mapping.functionKey} metrics: ${parts.join('; ')}`;
};

module.exports = ServerlessOfflineKafka;
