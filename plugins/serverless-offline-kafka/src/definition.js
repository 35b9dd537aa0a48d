// @ts-check
'use strict';

const { createHash } = require('node:crypto');
const { accessOf, compiledAccess } = require('./access');
const { MappingError } = require('./errors');
const { MAX_FILTERS, compileFilters } = require('./filter');
const { schemaRegistryOf } = require('./registry/config');
const { isObject, messageOf } = require('./util');

/**
 * Turns a function's `msk` and `kafka` events into event source mappings, the way the framework
 * compiles them to `AWS::Lambda::EventSourceMapping` properties, then applies
 * `resources.extensions.<LogicalId>.Properties` on top: one serverless.yml drives AWS and offline.
 */

const DEFAULTS = /** @type {const} */ ({
  BATCH_SIZE: 100,
  /** Kafka's default batching window, in seconds. */
  WINDOW_S: 0.5,
  /** With infinite retries and a destination, Lambda stops after 10 retries. */
  RETRIES_WITH_DESTINATION: 10,
  /** Lambda refuses Kafka triggers on functions with a longer timeout. */
  MAX_FUNCTION_TIMEOUT_S: 14 * 60,
});

/**
 * @typedef {import('./event').EventSourceKind} EventSourceKind
 * @typedef {{
 *   provisioned: boolean,
 *   maxRetries: number,
 *   maxRecordAgeMs: number,
 *   bisect: boolean,
 *   reportBatchItemFailures: boolean,
 *   onFailure: { kind: 'kafka', topic: string } | { kind: 'sqs' | 'sns' | 's3', name: string, arn: string } | undefined,
 * }} ErrorHandling `maxRetries` and `maxRecordAgeMs` are -1 for unlimited.
 * @typedef {{
 *   id: string,
 *   functionKey: string,
 *   functionName: string,
 *   logicalId: string,
 *   source: EventSourceKind,
 *   bootstrapServers: string[] | undefined,
 *   access: import('./access').Access,
 *   topic: string,
 *   groupId: string,
 *   batchSize: number,
 *   windowMs: number,
 *   startingPosition: 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP',
 *   startingPositionTimestampMs: number | undefined,
 *   filter: (record: import('./event').LambdaKafkaRecord) => boolean,
 *   filterPatterns: string[],
 *   errorHandling: ErrorHandling,
 *   logLevel: 'DEBUG' | 'INFO' | 'WARN',
 *   metrics: string[],
 *   pollers: { min: number, max: number } | undefined,
 *   schemaRegistry?: import('./registry/config').SchemaRegistryConfig,
 *   warnings: string[],
 * }} Mapping `bootstrapServers`: a `kafka` event's own (where AWS connects); `access`: the
 *   secrets it authenticates with (SourceAccessConfigurations).
 * @typedef {{
 *   serviceName: string,
 *   stage: string,
 *   region: string,
 *   functionKey: string,
 *   functionName: string,
 *   functionTimeoutS: number,
 *   index: number,
 *   event: { msk?: Record<string, unknown>, kafka?: Record<string, unknown> },
 *   logicalId: string,
 *   extension: Record<string, unknown> | undefined,
 * }} EventContext
 */

/**
 * Deep-merges `extra` over `base`, as CloudFormation extensions do.
 * @param {Record<string, unknown>} base
 * @param {Record<string, unknown>} extra
 * @returns {Record<string, unknown>}
 */
const merge = (base, extra) => {
  /** @type {Record<string, unknown>} */
  const out = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const current = out[k];
    out[k] = isObject(current) && isObject(v) ? merge(current, v) : v;
  }
  return out;
};

/**
 * The properties the framework would write for this event (see its msk and kafka compilers).
 * `maximumBatchingWindow: 0` is dropped there (a falsy check), so AWS keeps its default.
 * @param {EventContext['event']} event
 * @returns {Record<string, unknown>}
 */
const compiledProperties = (event) => {
  const e = event.msk ?? event.kafka ?? {};
  /** @type {Record<string, unknown>} */
  const p = {
    StartingPosition: e.startingPosition ?? (event.msk ? 'TRIM_HORIZON' : undefined),
    Topics: [e.topic],
  };
  if (event.msk) p.EventSourceArn = e.arn;
  else p.SelfManagedEventSource = { Endpoints: { KafkaBootstrapServers: e.bootstrapServers } };
  if (e.startingPositionTimestamp != null)
    p.StartingPositionTimestamp = e.startingPositionTimestamp;
  if (e.batchSize) p.BatchSize = e.batchSize;
  if (e.maximumBatchingWindow) p.MaximumBatchingWindowInSeconds = e.maximumBatchingWindow;
  if (e.enabled != null) p.Enabled = e.enabled;
  if (e.consumerGroupId) {
    p[event.msk ? 'AmazonManagedKafkaEventSourceConfig' : 'SelfManagedKafkaEventSourceConfig'] = {
      ConsumerGroupId: e.consumerGroupId,
    };
  }
  if (Array.isArray(e.filterPatterns)) {
    p.FilterCriteria = {
      Filters: e.filterPatterns.map((pattern) => ({ Pattern: JSON.stringify(pattern) })),
    };
  }
  if (isObject(e.provisionedPollerConfig)) p.ProvisionedPollerConfig = e.provisionedPollerConfig;
  if (typeof e.onFailureDestination === 'string') {
    p.DestinationConfig = { OnFailure: { Destination: e.onFailureDestination } };
  }
  const access = compiledAccess(e, event.msk ? 'msk' : 'kafka');
  if (access) p.SourceAccessConfigurations = access;
  return p;
};

/**
 * A stable, unique consumer group for a mapping without `consumerGroupId`. AWS generates a UUID
 * that lives as long as the mapping; offline, the same mapping gets the same id on every start,
 * so stopping and restarting resumes from committed offsets.
 * @param {EventContext} ctx
 * @param {string} topic
 */
const generatedGroupId = (ctx, topic) => {
  const hex = createHash('sha256')
    .update([ctx.serviceName, ctx.stage, ctx.functionKey, String(ctx.index), topic].join('\0'))
    .digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
};

/**
 * The cluster ARN echoed into `eventSourceArn`. A CloudFormation reference cannot be resolved
 * offline; it is replaced by a recognisable placeholder.
 * @param {unknown} arn
 * @param {EventContext} ctx
 */
const arnOf = (arn, ctx) => {
  if (typeof arn === 'string') return arn;
  const token = isObject(arn) ? String(arn.Ref ?? arn['Fn::ImportValue'] ?? 'cluster') : 'cluster';
  return `arn:aws:kafka:${ctx.region}:000000000000:cluster/${token}/offline`;
};

/**
 * An integer property, as the CreateEventSourceMapping API types it (Integer): AWS refuses 1.5.
 * @param {unknown} value
 * @param {string} name
 * @param {number} min
 * @param {number} max
 */
const checkInteger = (value, name, min, max) => {
  if (
    !Number.isInteger(value) ||
    /** @type {number} */ (value) < min ||
    /** @type {number} */ (value) > max
  ) {
    throw new MappingError(
      `${name} must be an integer from ${min} to ${max}; received ${JSON.stringify(value)}`,
    );
  }
  return /** @type {number} */ (value);
};

/**
 * An on-failure destination: `kafka://<topic>`, or the ARN of an SQS queue, SNS topic or S3
 * bucket (kafka-on-failure).
 * @param {string} destination
 * @param {string} sourceTopic
 * @returns {NonNullable<ErrorHandling['onFailure']>}
 */
const destinationOf = (destination, sourceTopic) => {
  if (destination.startsWith('kafka://')) {
    const topic = destination.slice('kafka://'.length);
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic))
      throw new MappingError(`on-failure destination ${destination} is not a valid Kafka topic`);
    if (topic === sourceTopic) {
      throw new MappingError(
        `on-failure destination kafka://${topic} is the source topic; AWS refuses it (it would loop)`,
      );
    }
    return { kind: 'kafka', topic };
  }
  const arn = /^arn:aws[a-z-]*:(sqs|sns|s3):[^:]*:[^:]*:([^:/]+)$/.exec(destination);
  if (!arn) {
    throw new MappingError(
      `on-failure destination must be kafka://<topic> or the ARN of an SQS queue, SNS topic or S3 bucket; received ${JSON.stringify(destination)}`,
    );
  }
  return {
    kind: /** @type {'sqs' | 'sns' | 's3'} */ (arn[1]),
    name: /** @type {string} */ (arn[2]),
    arn: destination,
  };
};

/**
 * @param {Record<string, unknown>} p merged properties
 * @returns {ErrorHandling}
 */
const errorHandlingOf = (p) => {
  const provisioned = isObject(p.ProvisionedPollerConfig);
  const destination =
    isObject(p.DestinationConfig) && isObject(p.DestinationConfig.OnFailure)
      ? p.DestinationConfig.OnFailure.Destination
      : undefined;
  const responseTypes = Array.isArray(p.FunctionResponseTypes) ? p.FunctionResponseTypes : [];
  const provisionedOnly = [
    ['MaximumRetryAttempts', p.MaximumRetryAttempts !== undefined],
    ['MaximumRecordAgeInSeconds', p.MaximumRecordAgeInSeconds !== undefined],
    ['BisectBatchOnFunctionError', p.BisectBatchOnFunctionError !== undefined],
    ['FunctionResponseTypes', responseTypes.length > 0],
    [
      'a Kafka on-failure destination',
      typeof destination === 'string' && destination.startsWith('kafka://'),
    ],
    ['LoggingConfig', p.LoggingConfig !== undefined],
    ['MetricsConfig', p.MetricsConfig !== undefined],
  ]
    .filter(([, set]) => set)
    .map(([name]) => name);
  if (!provisioned && provisionedOnly.length > 0) {
    throw new MappingError(
      `${provisionedOnly.join(', ')} need provisioned mode (provisionedPollerConfig); AWS refuses them otherwise`,
    );
  }
  let maxRetries =
    p.MaximumRetryAttempts === undefined
      ? -1
      : checkInteger(p.MaximumRetryAttempts, 'MaximumRetryAttempts', -1, 10000);
  const maxAgeS =
    p.MaximumRecordAgeInSeconds === undefined
      ? -1
      : checkInteger(p.MaximumRecordAgeInSeconds, 'MaximumRecordAgeInSeconds', -1, 604800);
  if (
    p.BisectBatchOnFunctionError !== undefined &&
    typeof p.BisectBatchOnFunctionError !== 'boolean'
  )
    throw new MappingError('BisectBatchOnFunctionError must be true or false');
  for (const type of responseTypes) {
    if (type !== 'ReportBatchItemFailures')
      throw new MappingError(
        `FunctionResponseTypes accepts only ReportBatchItemFailures; received ${JSON.stringify(type)}`,
      );
  }
  if (maxAgeS !== -1 && maxAgeS < 60)
    throw new MappingError('MaximumRecordAgeInSeconds must be -1 or from 60 to 604800');
  /** @type {ErrorHandling['onFailure']} */
  let onFailure;
  if (destination !== undefined) {
    if (typeof destination !== 'string')
      throw new MappingError('DestinationConfig.OnFailure.Destination must be a string');
    onFailure = destinationOf(destination, String((Array.isArray(p.Topics) && p.Topics[0]) ?? ''));
    if (maxRetries === -1) maxRetries = DEFAULTS.RETRIES_WITH_DESTINATION;
  }
  return {
    provisioned,
    maxRetries,
    maxRecordAgeMs: maxAgeS === -1 ? -1 : maxAgeS * 1000,
    bisect: p.BisectBatchOnFunctionError === true,
    reportBatchItemFailures: responseTypes.includes('ReportBatchItemFailures'),
    onFailure,
  };
};

/**
 * Builds the mapping of one `msk` or `kafka` event, or returns `undefined` when it is disabled.
 * Throws `MappingError` for a configuration AWS would refuse.
 * @param {EventContext} ctx
 * @returns {Mapping | undefined}
 */
const mappingOf = (ctx) => {
  const { event } = ctx;
  const raw = event.msk ?? event.kafka;
  if (!raw) throw new MappingError('not a Kafka event');
  /** @type {string[]} */
  const warnings = [];
  const extension = isObject(ctx.extension?.Properties) ? ctx.extension.Properties : {};
  const p = merge(compiledProperties(event), extension);
  if (p.Enabled === false) return undefined;

  const topics = Array.isArray(p.Topics) ? p.Topics : [];
  const topic = topics[0];
  if (typeof topic !== 'string' || topic === '' || topics.length !== 1) {
    throw new MappingError('exactly one topic is required');
  }
  const batchSize =
    p.BatchSize === undefined
      ? DEFAULTS.BATCH_SIZE
      : checkInteger(p.BatchSize, 'BatchSize', 1, 10000);
  let windowS = /** @type {number} */ (DEFAULTS.WINDOW_S);
  if (p.MaximumBatchingWindowInSeconds !== undefined) {
    windowS = checkInteger(
      p.MaximumBatchingWindowInSeconds,
      'MaximumBatchingWindowInSeconds',
      0,
      300,
    );
  } else if (raw.maximumBatchingWindow === 0) {
    warnings.push(
      `maximumBatchingWindow: 0 is dropped by the framework, so AWS (and this emulator) use ${DEFAULTS.WINDOW_S} s; ` +
        `set resources.extensions.${ctx.logicalId}.Properties.MaximumBatchingWindowInSeconds: 0 for no window`,
    );
  }
  const startingPosition = p.StartingPosition ?? 'TRIM_HORIZON';
  if (
    startingPosition !== 'TRIM_HORIZON' &&
    startingPosition !== 'LATEST' &&
    startingPosition !== 'AT_TIMESTAMP'
  ) {
    throw new MappingError(
      `startingPosition must be TRIM_HORIZON, LATEST or AT_TIMESTAMP; received ${JSON.stringify(startingPosition)}`,
    );
  }
  let startingPositionTimestampMs;
  if (startingPosition === 'AT_TIMESTAMP') {
    if (typeof p.StartingPositionTimestamp !== 'number') {
      throw new MappingError(
        'startingPositionTimestamp (Unix seconds) is required with AT_TIMESTAMP',
      );
    }
    startingPositionTimestampMs = Math.round(p.StartingPositionTimestamp * 1000);
  }
  const groupConfig = p.AmazonManagedKafkaEventSourceConfig ?? p.SelfManagedKafkaEventSourceConfig;
  const groupId =
    isObject(groupConfig) && typeof groupConfig.ConsumerGroupId === 'string'
      ? groupConfig.ConsumerGroupId
      : generatedGroupId(ctx, topic);

  const filters =
    isObject(p.FilterCriteria) && Array.isArray(p.FilterCriteria.Filters)
      ? p.FilterCriteria.Filters.map((f) => (isObject(f) ? f.Pattern : f))
      : [];
  if (filters.length > 2 * MAX_FILTERS)
    throw new MappingError(`at most ${2 * MAX_FILTERS} filters are allowed`);
  if (filters.length > MAX_FILTERS)
    warnings.push(`${filters.length} filters need a quota raise on AWS (default ${MAX_FILTERS})`);
  let filter;
  try {
    filter = compileFilters(filters);
  } catch (error) {
    throw new MappingError(`invalid filterPatterns: ${messageOf(error)}`, { cause: error });
  }
  if (ctx.functionTimeoutS > DEFAULTS.MAX_FUNCTION_TIMEOUT_S) {
    throw new MappingError(
      `the function timeout is ${ctx.functionTimeoutS} s; AWS refuses Kafka triggers on functions with a timeout over ${DEFAULTS.MAX_FUNCTION_TIMEOUT_S} s (14 minutes)`,
    );
  }
  if (typeof groupId !== 'string' || !/^[a-zA-Z0-9-/*:_+=.@-]{1,200}$/.test(groupId)) {
    throw new MappingError(
      `consumerGroupId must be 1 to 200 characters of letters, digits and -/*:_+=.@; received ${JSON.stringify(groupId)}`,
    );
  }
  const pollers = pollersOf(p.ProvisionedPollerConfig);
  const logging = isObject(p.LoggingConfig) ? p.LoggingConfig.SystemLogLevel : undefined;
  if (logging !== undefined && logging !== 'DEBUG' && logging !== 'INFO' && logging !== 'WARN') {
    throw new MappingError(
      `LoggingConfig.SystemLogLevel must be DEBUG, INFO or WARN; received ${JSON.stringify(logging)}`,
    );
  }
  const metrics =
    isObject(p.MetricsConfig) && Array.isArray(p.MetricsConfig.Metrics)
      ? p.MetricsConfig.Metrics
      : [];
  for (const metric of metrics) {
    if (metric !== 'EventCount' && metric !== 'ErrorCount' && metric !== 'KafkaMetrics')
      throw new MappingError(
        `MetricsConfig.Metrics accepts EventCount, ErrorCount and KafkaMetrics; received ${JSON.stringify(metric)}`,
      );
  }

  const endpoints =
    isObject(p.SelfManagedEventSource) && isObject(p.SelfManagedEventSource.Endpoints)
      ? p.SelfManagedEventSource.Endpoints.KafkaBootstrapServers
      : undefined;
  const kind = event.msk ? 'msk' : 'kafka';
  const schemaRegistry = schemaRegistryOf(p, kind);
  if (schemaRegistry && schemaRegistry.access.length > 0) {
    warnings.push(
      `SchemaRegistryConfig.AccessConfigs (${schemaRegistry.access.map((a) => a.type).join(', ')}) are checked but not used offline: the registry is read without authentication`,
    );
  }

  return {
    id: `${ctx.functionKey}#${ctx.index}`,
    functionKey: ctx.functionKey,
    functionName: ctx.functionName,
    logicalId: ctx.logicalId,
    source: event.msk ? { kind: 'msk', arn: arnOf(event.msk.arn, ctx) } : { kind: 'kafka' },
    bootstrapServers: Array.isArray(endpoints) ? endpoints.map(String) : undefined,
    access: accessOf(p.SourceAccessConfigurations, { kind, region: ctx.region }),
    topic,
    groupId,
    batchSize,
    windowMs: Math.round(windowS * 1000),
    startingPosition,
    startingPositionTimestampMs,
    filter,
    filterPatterns: filters.map((f) => (typeof f === 'string' ? f : JSON.stringify(f))),
    errorHandling: errorHandlingOf(p),
    logLevel: logging ?? 'INFO',
    metrics: metrics.map(String),
    pollers,
    schemaRegistry,
    warnings,
  };
};

/**
 * ProvisionedPollerConfig: MinimumPollers 1..200 (default 1), MaximumPollers 1..2000 (default
 * 200), Maximum at least Minimum (kafka-scaling-modes).
 * @param {unknown} config
 */
const pollersOf = (config) => {
  if (config === undefined) return undefined;
  if (!isObject(config)) throw new MappingError('provisionedPollerConfig must be an object');
  const raw = {
    MinimumPollers: config.MinimumPollers ?? config.minimumPollers,
    MaximumPollers: config.MaximumPollers ?? config.maximumPollers,
  };
  const min =
    raw.MinimumPollers === undefined
      ? 1
      : checkInteger(raw.MinimumPollers, 'MinimumPollers', 1, 200);
  const max =
    raw.MaximumPollers === undefined
      ? 200
      : checkInteger(raw.MaximumPollers, 'MaximumPollers', 1, 2000);
  if (max < min)
    throw new MappingError(`MaximumPollers (${max}) must be at least MinimumPollers (${min})`);
  return { min, max };
};

/**
 * Every enabled Kafka mapping of the service. Invalid ones are reported through `onInvalid`
 * and left out, so that one bad mapping never stops the others.
 * @param {any} serverless
 * @param {(functionKey: string, message: string) => void} onInvalid
 * @returns {Mapping[]}
 */
const mappingsOf = (serverless, onInvalid) => {
  const { service } = serverless;
  const naming = serverless.getProvider('aws').naming;
  const extensions = isObject(service.resources?.extensions) ? service.resources.extensions : {};
  const stage = serverless.getProvider('aws').getStage();
  const region = serverless.getProvider('aws').getRegion();
  /** @type {Mapping[]} */
  const mappings = [];
  for (const functionKey of service.getAllFunctions()) {
    const fn = service.getFunction(functionKey);
    /** @type {EventContext['event'][]} */
    const events = service.getAllEventsInFunction(functionKey) ?? [];
    events.forEach((event, index) => {
      if (!event.msk && !event.kafka) return;
      const raw = /** @type {Record<string, unknown>} */ (event.msk ?? event.kafka);
      const topic = String(raw.topic ?? '');
      const logicalId = event.msk
        ? naming.getMSKEventLogicalId(functionKey, clusterToken(raw.arn), topic)
        : naming.getKafkaEventLogicalId(functionKey, topic);
      try {
        const mapping = mappingOf({
          serviceName: service.service,
          stage,
          region,
          functionKey,
          functionName: fn.name ?? functionKey,
          functionTimeoutS: fn.timeout ?? service.provider.timeout ?? 6,
          index,
          event,
          logicalId,
          extension: isObject(extensions[logicalId]) ? extensions[logicalId] : undefined,
        });
        if (mapping) {
          const other = mappings.find((m) => m.groupId === mapping.groupId);
          if (other) {
            throw new MappingError(
              `consumer group ${mapping.groupId} is already used by ${other.functionKey}; each event source mapping needs its own (AWS refuses a duplicate)`,
            );
          }
          mappings.push(mapping);
        }
      } catch (error) {
        onInvalid(functionKey, messageOf(error));
      }
    });
  }
  return mappings;
};

/**
 * The cluster-name part of the logical id, as the framework derives it.
 * @param {unknown} arn
 */
const clusterToken = (arn) => {
  if (typeof arn === 'string') return arn.split('/')[1] ?? arn;
  if (isObject(arn)) return String(arn['Fn::ImportValue'] ?? arn.Ref ?? 'cluster');
  return 'cluster';
};

module.exports = { DEFAULTS, compiledProperties, mappingOf, mappingsOf };
