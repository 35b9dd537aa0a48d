// @ts-check
'use strict';

const { resolve } = require('node:path');
// Before kafkajs fetches anything: the plugin's consumers decode records themselves (headers in
// order, every compression codec, one undecodable batch never failing a whole fetch).
const decoder = require('./records').install();
// Read committed as Kafka's Java consumer is: no aborted record delivered (aborted.js).
const abortedFilter = require('./aborted').install();
const { Kafka, logLevel } = require('kafkajs');
const { CLUSTER_AUTHS, checkConnection, clustersOf, connectionOf } = require('./connection');
const { mappingsOf } = require('./definition');
const { Destination } = require('./destination');
const { Invoker } = require('./invoker');
const { Registries } = require('./registry/deserializer');
const { SECRETS_VARIABLE, SecretStore } = require('./secrets');
const { KafkaEventSource } = require('./source');
const { serveState, stateOf } = require('./state');
const { describe, messageOf } = require('./util');

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
  secretsFile: '.local/kafka-secrets.json',
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
 *   clusters: unknown,
 *   secretsFile: string,
 *   glueEndpoint: string | undefined,
 *   statePort: number | undefined,
 * }} PluginOptions `clusters` as written (checked by `clustersOf`).
 * @typedef {{
 *   connection: import('./connection').Connection,
 *   mappings: import('./definition').Mapping[],
 * }} ClusterGroup The mappings that share a cluster connection.
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
  /** Start-up checks of secured clusters, whose mappings start once it passes. */
  /** @type {Promise<void>[]} */
  #checks = [];
  #stopping = false;
  /** @type {import('node:http').Server | undefined} */
  #stateServer;

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
            secretsFile: { type: 'string' },
            clusters: {
              type: 'object',
              additionalProperties: {
                anyOf: [
                  {
                    type: 'object',
                    properties: {
                      brokers: {
                        anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
                      },
                      auth: { enum: [...CLUSTER_AUTHS] },
                      awsProfile: { type: 'string' },
                    },
                    additionalProperties: false,
                  },
                  // `pkc-123.example:9092:` with nothing after it: the event's own servers.
                  { type: 'null' },
                ],
              },
            },
            glueEndpoint: { type: 'string' },
            statePort: { type: 'integer', minimum: 0, maximum: 65535 },
          },
          additionalProperties: false,
        },
      },
    });
    this.hooks = {
      'offline:start:init': () => this.#start(),
      // After serverless-offline's own `offline:start:init`, which resolves once its HTTP,
      // WebSocket and Lambda servers listen: a state port that is one of theirs is then the one
      // refused (logged), never serverless-offline's, so the state cannot fail `sls offline start`.
      'after:offline:start:init': () => this.#serveState(),
      'before:offline:start:end': () => this.#stop(),
      'offline:functionsUpdated:cleanup': () => this.#reload(),
    };
  }

  /**
   * What every event source mapping does now, as plain JSON data (README, "State"); also served
   * at `GET http://127.0.0.1:<statePort>/state` when `statePort` is set.
   * @returns {import('./state').PluginState}
   */
  state() {
    return stateOf(this.#sources);
  }

  /** @returns {PluginOptions} */
  #readOptions() {
    const custom = this.#serverless.service.custom?.[OPTIONS_KEY] ?? {};
    const brokers = custom.brokers ?? DEFAULT_OPTIONS.brokers;
    const list = (Array.isArray(brokers) ? brokers : String(brokers).split(','))
      .map((b) => String(b).trim())
      .filter(Boolean);
    const serviceDir =
      this.#serverless.serviceDir ?? this.#serverless.config?.servicePath ?? process.cwd();
    return {
      enabled: custom.enabled !== false,
      brokers: list.length > 0 ? list : [...DEFAULT_OPTIONS.brokers],
      clientId: custom.clientId ?? DEFAULT_OPTIONS.clientId,
      retryInitialDelayMs: custom.retryInitialDelayMs ?? DEFAULT_OPTIONS.retryInitialDelayMs,
      retryMaxDelayMs: custom.retryMaxDelayMs ?? DEFAULT_OPTIONS.retryMaxDelayMs,
      shutdownTimeoutMs: custom.shutdownTimeoutMs ?? DEFAULT_OPTIONS.shutdownTimeoutMs,
      destinationsDir: resolve(
        serviceDir,
        custom.destinationsDir ?? DEFAULT_OPTIONS.destinationsDir,
      ),
      metricsIntervalMs: custom.metricsIntervalMs ?? DEFAULT_OPTIONS.metricsIntervalMs,
      clusters: custom.clusters,
      secretsFile: resolve(serviceDir, custom.secretsFile ?? DEFAULT_OPTIONS.secretsFile),
      glueEndpoint: custom.glueEndpoint,
      statePort: this.#statePortOf(custom.statePort),
    };
  }

  /**
   * `statePort` as a port number, or `undefined` (not served) when unset or not a port: a bad
   * value is logged, and the event sources start all the same.
   * @param {unknown} value
   * @returns {number | undefined}
   */
  #statePortOf(value) {
    if (value === undefined || value === null) return undefined;
    const port = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65_535)
      return port;
    this.#log.error(
      `Kafka state not served: statePort must be a port number (0 to 65535); received ${JSON.stringify(value)}`,
    );
    return undefined;
  }

  /** Serves the state on `statePort`, if set (see the hook's comment). Never throws. */
  async #serveState() {
    const port = this.#options?.statePort;
    if (!this.#options?.enabled || port === undefined || this.#stateServer) return;
    this.#stateServer = await serveState({ port, read: () => this.state(), log: this.#log });
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
      if (!abortedFilter.installed) {
        this.#log.warning(
          `Kafka: kafkajs filters aborted transactions itself, because ${abortedFilter.reason}: a fetch that starts inside two aborted transactions can deliver a record of the second (load this plugin before anything that loads kafkajs)`,
        );
      }
      for (const m of mappings)
        for (const w of m.warnings) this.#log.warning(`Kafka ${m.functionKey}: ${w}`);

      const registries = new Registries({ glueEndpoint: options.glueEndpoint });
      /** @type {Map<import('./definition').Mapping, InstanceType<typeof import('./registry/deserializer').Deserializer> | undefined>} */
      const deserializers = new Map();
      for (const mapping of mappings) {
        try {
          deserializers.set(
            mapping,
            mapping.schemaRegistry && registries.deserializerFor(mapping.schemaRegistry),
          );
        } catch (error) {
          this.#log.error(
            `Kafka ${mapping.functionKey}: event source not started: ${describe(error)}`,
          );
        }
      }
      const onCluster = this.#byConnection([...deserializers.keys()], options);
      const started = [...onCluster.values()].flatMap((g) => g.mappings);
      if (started.length === 0) return;

      this.#invoker = await Invoker.create(this.#serverless, this.#offlineOptions(), [
        ...new Set(started.map((m) => m.functionKey)),
      ]);
      const invoker = this.#invoker;
      const shared = {
        options,
        region: this.#serverless.getProvider('aws').getRegion(),
        /** @param {string} functionKey @param {import('./event').LambdaKafkaEvent} event */
        invoke: (functionKey, event) => invoker.invoke(functionKey, event),
        /** @param {number} attempt */
        retryDelayMs: (attempt) =>
          Math.min(
            options.retryMaxDelayMs,
            options.retryInitialDelayMs * 2 ** Math.max(0, attempt - 1),
          ),
        deserializers,
      };
      for (const group of onCluster.values()) this.#startOnCluster(group, shared);
      this.#startMetrics(options.metricsIntervalMs);
    } catch (error) {
      // An error thrown from a hook is printed but leaves the servers up; say what failed instead.
      this.#log.error(`Kafka event sources not started: ${describe(error)}`);
    }
  }

  /**
   * The mappings grouped by how they connect (one kafkajs client per group). A mapping whose
   * connection cannot work offline (a secret missing, a listed msk cluster without brokers) is
   * reported and left out.
   * @param {import('./definition').Mapping[]} mappings
   * @param {PluginOptions} options
   */
  #byConnection(mappings, options) {
    const clusters = clustersOf(options.clusters);
    const secrets = new SecretStore({
      variable: process.env[SECRETS_VARIABLE],
      file: options.secretsFile,
    });
    /** @type {Map<string, ClusterGroup>} */
    const groups = new Map();
    for (const mapping of mappings) {
      let connection;
      try {
        connection = connectionOf(mapping, { brokers: options.brokers, clusters, secrets });
      } catch (error) {
        this.#log.error(
          `Kafka ${mapping.functionKey}: event source not started: ${messageOf(error)}`,
        );
        continue;
      }
      if (connection.ignored.length > 0) {
        this.#log.notice(
          `Kafka ${mapping.functionKey}: ${connection.ignored.join(', ')} not used offline: its cluster is not in custom.serverless-offline-kafka.clusters, so it reads ${connection.brokers.join(',')} in plaintext`,
        );
      }
      const group = groups.get(connection.key) ?? { connection, mappings: [] };
      group.mappings.push(mapping);
      groups.set(connection.key, group);
    }
    return groups;
  }

  /**
   * Starts the event sources of one cluster connection, with one kafkajs client handed to each
   * source and destination on it (a Kafka on-failure destination is on the source's cluster:
   * "Same cluster requirement"). A secured cluster is checked first, in the background: start-up
   * never waits for a cluster, and its mappings start only if it accepts them.
   * @param {ClusterGroup} group
   * @param {{
   *   options: PluginOptions,
   *   region: string,
   *   invoke: (functionKey: string, event: import('./event').LambdaKafkaEvent) => Promise<unknown>,
   *   retryDelayMs: (attempt: number) => number,
   *   deserializers: Map<import('./definition').Mapping, InstanceType<typeof import('./registry/deserializer').Deserializer> | undefined>,
   * }} shared
   */
  #startOnCluster(
    { connection, mappings },
    { options, region, invoke, retryDelayMs, deserializers },
  ) {
    const kafka = new Kafka({
      clientId: options.clientId,
      brokers: connection.brokers,
      ...connection.kafka,
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ namespace, log }) =>
          this.#log.debug(`kafkajs ${namespace}: ${log.message}`),
    });
    const startAll = () => {
      for (const mapping of mappings) {
        const log = levelled(this.#log, mapping.logLevel);
        const source = new KafkaEventSource({
          mapping,
          kafka,
          bootstrapServers: connection.brokers,
          invoke: (event) => invoke(mapping.functionKey, event),
          destination: new Destination(mapping, {
            kafka,
            bootstrapServers: connection.brokers,
            functionArn: `arn:aws:lambda:${region}:000000000000:function:${mapping.functionName}`,
            destinationsDir: options.destinationsDir,
            retryDelayMs,
            log,
          }),
          deserializer: deserializers.get(mapping),
          retryDelayMs,
          log,
        });
        this.#sources.push(source);
        source.start();
      }
    };
    if (connection.method === 'plaintext') {
      startAll();
      return;
    }
    const check = checkConnection(connection, {
      clientId: options.clientId,
      kind: mappings[0]?.source.kind ?? 'kafka',
    }).then(
      () => {
        if (this.#stopping) return;
        for (const m of mappings)
          this.#log.notice(`Kafka ${m.functionKey}: connecting with ${connection.label}`);
        startAll();
      },
      (error) => {
        for (const m of mappings)
          this.#log.error(`Kafka ${m.functionKey}: event source not started: ${messageOf(error)}`);
      },
    );
    this.#checks.push(check);
  }

  /**
   * MetricsConfig offline: every `intervalMs`, one line per mapping that asks for metrics, with
   * AWS's metric names (EventCount, ErrorCount, and KafkaMetrics' offset lag per partition).
   * @param {number} intervalMs
   */
  #startMetrics(intervalMs) {
    if (intervalMs <= 0) return;
    this.#metricsTimer = setInterval(() => {
      // Read at each tick: mappings on a secured cluster start once it accepted them.
      for (const source of this.#sources)
        if (source.mapping.metrics.length > 0) this.#log.notice(metricsLine(source));
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
    this.#stateServer?.close();
    this.#stopping = true;
    const timeout = this.#options?.shutdownTimeoutMs ?? DEFAULT_OPTIONS.shutdownTimeoutMs;
    try {
      await Promise.all(this.#checks);
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
