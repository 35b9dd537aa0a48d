// @ts-check
'use strict';

/**
 * What serverless.yml derives from the stage parameters: the MSK resource ARNs that IAM
 * statements are scoped to, the functions' VPC configuration, and the consumer's event source
 * mapping settings that the `msk` event cannot express. osls calls each exported function with
 * `{ resolveVariable, options }` when it resolves `${file(./serverless/aws.cjs):<name>}`.
 *
 * Every parameter is validated here, so that `sls package` and `sls deploy` stop with the
 * parameter's name and what it expects, before anything reaches CloudFormation. Nothing here
 * needs AWS credentials: the account and region come from the cluster ARN.
 */

/** Limits AWS sets on the event source mapping (Lambda developer guide, `msk-esm-parameters`). */
const ESM_LIMITS = /** @type {const} */ ({
  BATCH_SIZE: { min: 1, max: 10_000 },
  BATCHING_WINDOW_S: { min: 0, max: 300 },
  MINIMUM_POLLERS: { min: 1, max: 200 },
  MAXIMUM_POLLERS: { min: 1, max: 2_000 },
  RETRY_ATTEMPTS: { min: -1, max: 10_000 },
});

/**
 * Replicas of each topic's partitions: 3 on a cluster across three Availability Zones, 2 on one
 * across two (AWS: "Set the topic replication factor (RF) to a minimum value of 2 for two-AZ
 * clusters and a minimum value of 3 for three-AZ clusters", MSK developer guide,
 * version-upgrades-best-practices). At most the number of brokers.
 */
const TOPIC_REPLICATION = /** @type {const} */ ({ min: 1, max: 15 });

/** The logical id the framework gives the consumer's function (`naming.getNormalizedFunctionName`). */
const CONSUMER_FUNCTION = 'ProcessNotifications';

/** The logical id of the second consumer, which pushes to WebSocket connections. */
const PUSH_FUNCTION = 'PushNotifications';

/** The custom resource that creates the topics (serverless/resources/kafka-topics.json). */
const TOPICS_RESOURCE = 'KafkaTopics';

/** Provisioned clusters end in `-<n>`, serverless ones in `-s<n>`. */
const CLUSTER_ARN =
  /^arn:(aws[a-z-]*):kafka:([a-z0-9-]+):(\d{12}):cluster\/([A-Za-z0-9-]{1,64})\/([0-9a-f-]{36}-s?\d+)$/;
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;

/** A parameter that cannot be used; the message names it, what it expects and what it got. */
class ParameterError extends Error {
  /** @override */
  name = 'ParameterError';

  /**
   * @param {string} param
   * @param {string} expected
   * @param {unknown} received
   */
  constructor(param, expected, received) {
    super(
      `Stage parameter "${param}": expected ${expected}; received ${JSON.stringify(received)}. ` +
        `Set it under params.<stage> in serverless.yml or pass --param "${param}=<value>" (see docs/deploy.md).`,
    );
    // osls prints the stack of errors thrown here: the message alone says everything.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/**
 * @typedef {(variable: string) => Promise<unknown>} ResolveVariable
 * @typedef {{ resolveVariable: ResolveVariable }} ResolverContext
 * @typedef {{
 *   partition: string,
 *   region: string,
 *   account: string,
 *   clusterName: string,
 *   clusterUuid: string,
 *   arns: {
 *     cluster: string,
 *     topic: string,
 *     deadLetterTopic: string,
 *     consumerGroup: string,
 *     pushConsumerGroup: string,
 *     publisherTransactionalIds: string,
 *   },
 * }} MskResources
 * @typedef {{
 *   auth: 'none' | 'iam',
 *   clusterArn: string,
 *   msk: MskResources,
 *   subnetIds: string[],
 *   securityGroupIds: string[],
 *   topic: string,
 *   deadLetterTopic: string,
 *   partitions: number,
 *   replicationFactor: number,
 *   minInsyncReplicas: number,
 *   consumerGroupId: string,
 *   pushConsumerGroupId: string,
 *   pushEnabled: boolean,
 *   pushBatchingWindowS: number | undefined,
 *   pushPollers: number | undefined,
 *   batchSize: number,
 *   batchingWindowS: number | undefined,
 *   minimumPollers: number | undefined,
 *   maximumPollers: number | undefined,
 *   maximumRetryAttempts: number | undefined,
 *   bisectBatchOnFunctionError: boolean,
 *   partialBatchResponse: boolean,
 *   onFailureToDeadLetterTopic: boolean,
 * }} Settings
 */

/**
 * A parameter's value, `''` when it is not set.
 * @param {ResolveVariable} resolveVariable
 * @param {string} name
 * @returns {Promise<string>}
 */
const param = async (resolveVariable, name) => {
  const value = await resolveVariable(`param:${name}, ''`);
  return value == null ? '' : String(value).trim();
};

/**
 * @param {string} name
 * @param {string} raw
 * @param {{ min: number, max: number }} range
 * @returns {number | undefined} `undefined` when not set
 */
const optionalInt = (name, raw, { min, max }) => {
  if (raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ParameterError(name, `a whole number from ${min} to ${max}, or nothing`, raw);
  }
  return value;
};

/**
 * @param {string} name
 * @param {string} raw
 * @param {{ min: number, max: number }} range
 */
const requiredInt = (name, raw, range) => {
  const value = optionalInt(name, raw, range);
  if (value === undefined) {
    throw new ParameterError(name, `a whole number from ${range.min} to ${range.max}`, raw);
  }
  return value;
};

/**
 * @param {string} name
 * @param {string} raw
 */
const bool = (name, raw) => {
  if (raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ParameterError(name, '"true" or "false"', raw);
};

/**
 * The items of a comma-separated parameter, trimmed, empty ones left out.
 * @param {string} raw
 */
const commaList = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * A comma-separated list of ids matching `pattern`.
 * @param {string} name
 * @param {string} raw
 * @param {RegExp} pattern
 * @param {string} example
 */
const idList = (name, raw, pattern, example) => {
  const ids = commaList(raw);
  if (ids.some((id) => !pattern.test(id))) {
    throw new ParameterError(name, `a comma-separated list such as ${example}`, raw);
  }
  return ids;
};

/**
 * A consumer group id as the event source mapping accepts it.
 * @param {string} name
 * @param {string} raw
 */
const groupId = (name, raw) => {
  if (!/^[A-Za-z0-9/*:_+=.@-]{1,200}$/.test(raw)) {
    throw new ParameterError(name, '1 to 200 letters, digits or any of - / * : _ + = . @', raw);
  }
  return raw;
};

/**
 * @param {string} name
 * @param {string} raw
 */
const topicName = (name, raw) => {
  if (!TOPIC_NAME.test(raw) || raw === '.' || raw === '..') {
    throw new ParameterError(
      name,
      'a Kafka topic name: 1 to 249 letters, digits, ".", "_" or "-"',
      raw,
    );
  }
  return raw;
};

/**
 * The ARNs of the cluster's Kafka resources as MSK's IAM access control names them
 * (MSK developer guide, `kafka-actions`: `topic/<cluster>/<uuid>/<topic>` and so on).
 * @param {string} clusterArn
 * @param {{ topic: string, deadLetterTopic: string, consumerGroupId: string, pushConsumerGroupId: string }} names
 * @returns {MskResources}
 */
const mskResources = (
  clusterArn,
  { topic, deadLetterTopic, consumerGroupId, pushConsumerGroupId },
) => {
  const match = CLUSTER_ARN.exec(clusterArn);
  if (!match) {
    throw new ParameterError(
      'mskClusterArn',
      'an MSK cluster ARN such as arn:aws:kafka:us-east-1:123456789012:cluster/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
      clusterArn,
    );
  }
  const [, partition = '', region = '', account = '', clusterName = '', clusterUuid = ''] = match;
  const prefix = `arn:${partition}:kafka:${region}:${account}`;
  const of = (/** @type {string} */ type, /** @type {string} */ name) =>
    `${prefix}:${type}/${clusterName}/${clusterUuid}/${name}`;
  return {
    partition,
    region,
    account,
    clusterName,
    clusterUuid,
    arns: {
      cluster: clusterArn,
      topic: of('topic', topic),
      deadLetterTopic: of('topic', deadLetterTopic),
      consumerGroup: of('group', consumerGroupId),
      pushConsumerGroup: of('group', pushConsumerGroupId),
      // shared/kafka/publisher.ts: one transactional id per producer, `<topic>-publisher-<uuid>`.
      publisherTransactionalIds: of('transactional-id', `${topic}-publisher-*`),
    },
  };
};

/**
 * Reads and checks every parameter this file uses.
 * @param {ResolveVariable} resolveVariable
 * @returns {Promise<Settings>}
 */
const readSettings = async (resolveVariable) => {
  const get = (/** @type {string} */ name) => param(resolveVariable, name);
  const authRaw = await get('kafkaAuth');
  if (authRaw !== 'none' && authRaw !== 'iam') {
    throw new ParameterError('kafkaAuth', '"iam" (AWS) or "none" (local broker)', authRaw);
  }
  const auth = /** @type {'none' | 'iam'} */ (authRaw);
  const topic = topicName('topic', await get('topic'));
  const deadLetterTopic = topicName('deadLetterTopic', await get('deadLetterTopic'));
  if (deadLetterTopic === topic) {
    throw new ParameterError('deadLetterTopic', `a topic other than "${topic}"`, deadLetterTopic);
  }
  const consumerGroupId = groupId('consumerGroupId', await get('consumerGroupId'));
  // Empty: the storing group's id with `-push`, so that the two never share a group.
  const pushConsumerGroupId = groupId(
    'pushConsumerGroupId',
    (await get('pushConsumerGroupId')) || `${consumerGroupId}-push`,
  );
  if (pushConsumerGroupId === consumerGroupId) {
    // One group would split the records between storing and pushing.
    throw new ParameterError(
      'pushConsumerGroupId',
      `a consumer group other than consumerGroupId ("${consumerGroupId}")`,
      pushConsumerGroupId,
    );
  }
  const clusterArn = await get('mskClusterArn');
  const msk = mskResources(clusterArn, {
    topic,
    deadLetterTopic,
    consumerGroupId,
    pushConsumerGroupId,
  });
  // An event source mapping reads a cluster of its own region only.
  const region = String(await resolveVariable('self:provider.region'));
  if (auth === 'iam' && msk.region !== region) {
    throw new ParameterError(
      'mskClusterArn',
      `a cluster in the stage's region, ${region} (deploy with --region ${msk.region} to use this one)`,
      clusterArn,
    );
  }
  const subnetIds = idList(
    'subnetIds',
    await get('subnetIds'),
    SUBNET_ID,
    'subnet-0a1b2c3d4e5f60001,subnet-0a1b2c3d4e5f60002',
  );
  const securityGroupIds = idList(
    'securityGroupIds',
    await get('securityGroupIds'),
    SECURITY_GROUP_ID,
    'sg-0a1b2c3d4e5f60001',
  );
  if (auth === 'iam' && subnetIds.length === 0) {
    throw new ParameterError('subnetIds', "the private subnets of the cluster's VPC", '');
  }
  if (auth === 'iam' && securityGroupIds.length === 0) {
    throw new ParameterError(
      'securityGroupIds',
      'security groups that the cluster accepts on port 9098',
      '',
    );
  }
  const minimumPollers = optionalInt(
    'consumerMinimumPollers',
    await get('consumerMinimumPollers'),
    ESM_LIMITS.MINIMUM_POLLERS,
  );
  const maximumPollers = optionalInt(
    'consumerMaximumPollers',
    await get('consumerMaximumPollers'),
    ESM_LIMITS.MAXIMUM_POLLERS,
  );
  const pushEnabled = await get('pushEnabled');
  const replicationFactor = requiredInt(
    'topicReplicationFactor',
    await get('topicReplicationFactor'),
    TOPIC_REPLICATION,
  );
  const settings = {
    auth,
    clusterArn,
    msk,
    subnetIds,
    securityGroupIds,
    topic,
    deadLetterTopic,
    partitions: requiredInt('topicPartitions', await get('topicPartitions'), {
      min: 1,
      max: 10_000,
    }),
    replicationFactor,
    // AWS: "Set minimum in-sync replicas (minISR) to a maximum value of 1 less than your
    // Replication Factor", so that one replica may be offline while MSK patches a broker
    // (MSK developer guide, version-upgrades-best-practices).
    minInsyncReplicas: Math.max(1, replicationFactor - 1),
    consumerGroupId,
    pushConsumerGroupId,
    // Empty: on, as a mapping is unless told otherwise (`Enabled` defaults to true).
    pushEnabled: pushEnabled === '' || bool('pushEnabled', pushEnabled),
    // `default` (the CLI cannot pass an empty --param) leaves AWS's default, as empty does.
    pushBatchingWindowS: optionalInt(
      'pushBatchingWindow',
      (await get('pushBatchingWindow')).replace(/^default$/, ''),
      ESM_LIMITS.BATCHING_WINDOW_S,
    ),
    // Provisioned mode for the pushing consumer, min = max (AWS's low-latency page below).
    pushPollers: optionalInt('pushPollers', await get('pushPollers'), ESM_LIMITS.MINIMUM_POLLERS),
    batchSize: requiredInt(
      'consumerBatchSize',
      await get('consumerBatchSize'),
      ESM_LIMITS.BATCH_SIZE,
    ),
    batchingWindowS: optionalInt(
      'consumerBatchingWindow',
      await get('consumerBatchingWindow'),
      ESM_LIMITS.BATCHING_WINDOW_S,
    ),
    minimumPollers,
    maximumPollers,
    maximumRetryAttempts: optionalInt(
      'consumerMaximumRetryAttempts',
      await get('consumerMaximumRetryAttempts'),
      ESM_LIMITS.RETRY_ATTEMPTS,
    ),
    bisectBatchOnFunctionError: bool(
      'consumerBisectBatchOnFunctionError',
      await get('consumerBisectBatchOnFunctionError'),
    ),
    partialBatchResponse: bool('partialBatchResponse', await get('partialBatchResponse')),
    onFailureToDeadLetterTopic: bool(
      'consumerOnFailureToDeadLetterTopic',
      await get('consumerOnFailureToDeadLetterTopic'),
    ),
  };
  if (maximumPollers !== undefined && minimumPollers === undefined) {
    throw new ParameterError(
      'consumerMinimumPollers',
      'a number of pollers when consumerMaximumPollers is set',
      '',
    );
  }
  if (
    minimumPollers !== undefined &&
    maximumPollers !== undefined &&
    maximumPollers < minimumPollers
  ) {
    throw new ParameterError(
      'consumerMaximumPollers',
      `at least consumerMinimumPollers (${minimumPollers})`,
      maximumPollers,
    );
  }
  // Lambda refuses these on a mapping in on-demand mode (`kafka-retry-configurations`).
  const provisionedOnly = /** @type {const} */ ([
    ['consumerMaximumRetryAttempts', settings.maximumRetryAttempts !== undefined],
    ['consumerBisectBatchOnFunctionError', settings.bisectBatchOnFunctionError],
    ['partialBatchResponse', settings.partialBatchResponse],
    ['consumerOnFailureToDeadLetterTopic', settings.onFailureToDeadLetterTopic],
  ]).filter(([, set]) => set);
  const [first] = provisionedOnly;
  if (first && minimumPollers === undefined) {
    throw new ParameterError(
      'consumerMinimumPollers',
      `a number of pollers (provisioned mode), needed by ${provisionedOnly.map(([n]) => n).join(', ')}`,
      '',
    );
  }
  return settings;
};

/**
 * The logical id the framework gives the consumer's event source mapping
 * (`naming.getMSKEventLogicalId`: function, cluster name and topic, alphanumeric only).
 * @param {string} clusterName
 * @param {string} topic
 */
const consumerMappingLogicalId = (clusterName, topic, fn = CONSUMER_FUNCTION) => {
  const part = (/** @type {string} */ s) => {
    const alnum = s.replace(/[^0-9A-Za-z]/g, '');
    return `${alnum.charAt(0).toUpperCase()}${alnum.slice(1)}`.slice(0, 79);
  };
  return `${fn}EventSourceMappingMSK${part(clusterName)}${part(topic)}`;
};

/**
 * `resources.extensions`: what the consumer's mapping needs beyond the `msk` event. The offline
 * emulator reads the same properties, so offline and AWS behave alike.
 * @param {Settings} s
 */
const extensionsOf = (s) => {
  /** @type {Record<string, unknown>} */
  const properties = {};
  // The framework drops `maximumBatchingWindow: 0`, which would leave AWS's 0.5 s.
  if (s.batchingWindowS === 0) properties.MaximumBatchingWindowInSeconds = 0;
  if (s.maximumRetryAttempts !== undefined) {
    properties.MaximumRetryAttempts = s.maximumRetryAttempts;
  }
  if (s.bisectBatchOnFunctionError) properties.BisectBatchOnFunctionError = true;
  if (s.partialBatchResponse) properties.FunctionResponseTypes = ['ReportBatchItemFailures'];
  if (s.onFailureToDeadLetterTopic) {
    properties.DestinationConfig = { OnFailure: { Destination: `kafka://${s.deadLetterTopic}` } };
  }
  /** @type {Record<string, unknown>} */
  const pushProperties = {};
  if (s.pushBatchingWindowS === 0) pushProperties.MaximumBatchingWindowInSeconds = 0;
  return {
    [consumerMappingLogicalId(s.msk.clusterName, s.topic)]: {
      // Lambda starts reading when the mapping is created: the topics must exist by then.
      DependsOn: [TOPICS_RESOURCE],
      Properties: properties,
    },
    [consumerMappingLogicalId(s.msk.clusterName, s.topic, PUSH_FUNCTION)]: {
      DependsOn: [TOPICS_RESOURCE],
      Properties: pushProperties,
    },
  };
};

/** @param {ResolverContext} ctx */
const settingsOf = ({ resolveVariable }) => readSettings(resolveVariable);

module.exports = {
  ESM_LIMITS,
  TOPICS_RESOURCE,
  ParameterError,
  commaList,
  consumerMappingLogicalId,
  extensionsOf,
  mskResources,
  param,
  readSettings,

  /**
   * The cluster ARN and the ARNs derived from it.
   * @param {ResolverContext} ctx
   */
  msk: async (ctx) => {
    const s = await settingsOf(ctx);
    return { clusterArn: s.clusterArn, ...s.msk };
  },

  /**
   * The VPC configuration of the functions that talk to Kafka, or `null` (no VPC) when no subnets
   * are given, as for the local stage.
   * @param {ResolverContext} ctx
   */
  vpc: async (ctx) => {
    const s = await settingsOf(ctx);
    if (s.subnetIds.length === 0) return null;
    return { subnetIds: s.subnetIds, securityGroupIds: s.securityGroupIds };
  },

  /**
   * The consumer's `msk` event settings and the environment that goes with them.
   * @param {ResolverContext} ctx
   */
  consumer: async (ctx) => {
    const s = await settingsOf(ctx);
    return {
      batchSize: s.batchSize,
      // 0 goes through `extensions` (see extensionsOf); unset leaves AWS's default.
      maximumBatchingWindow: s.batchingWindowS ? s.batchingWindowS : null,
      provisionedPollerConfig:
        s.minimumPollers === undefined
          ? null
          : {
              minimumPollers: s.minimumPollers,
              ...(s.maximumPollers === undefined ? {} : { maximumPollers: s.maximumPollers }),
            },
      // shared/config.ts PARTIAL_BATCH_RESPONSE: on exactly when the mapping reports item failures.
      partialBatchResponse: String(s.partialBatchResponse),
    };
  },

  /**
   * The pushing consumer's `msk` event settings: its own group, its batching window (0 goes
   * through `extensions`, as for the storing consumer), and whether it runs.
   * @param {ResolverContext} ctx
   */
  pushConsumer: async (ctx) => {
    const s = await settingsOf(ctx);
    return {
      groupId: s.pushConsumerGroupId,
      maximumBatchingWindow: s.pushBatchingWindowS ? s.pushBatchingWindowS : null,
      // `pushPollers=<n>`: AWS's low-latency setup for Kafka ("Low latency processing for Kafka
      // event sources", Lambda developer guide, with-kafka-low-latency): provisioned mode and a
      // batching window of 0 (pushBatchingWindow's default). Minimum and maximum the same, which
      // the page advises to turn off the pollers' autoscaling and the rebalances it triggers.
      provisionedPollerConfig:
        s.pushPollers === undefined
          ? null
          : { minimumPollers: s.pushPollers, maximumPollers: s.pushPollers },
      // `pushEnabled=false`: the mapping is created disabled (and not run offline); null leaves
      // the event's `enabled` out, as AWS's default (on).
      enabled: s.pushEnabled ? null : false,
    };
  },

  /**
   * The topics the deploy creates, with their partitions, replicas and min.insync.replicas.
   * @param {ResolverContext} ctx
   */
  topics: async (ctx) => {
    const s = await settingsOf(ctx);
    return [
      ...[s.topic, s.deadLetterTopic].map((Name) => ({
        Name,
        Partitions: s.partitions,
        ReplicationFactor: s.replicationFactor,
        MinInsyncReplicas: s.minInsyncReplicas,
      })),
    ];
  },

  /**
   * `resources.extensions`, keyed by logical id (computed: YAML keys cannot hold variables).
   * @param {ResolverContext} ctx
   */
  extensions: async (ctx) => extensionsOf(await settingsOf(ctx)),
};
