import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import aws from '../../serverless/aws.cjs';

/**
 * serverless/aws.cjs: what serverless.yml derives from the stage parameters. The packaged
 * template is checked as a whole in tests/deploy; these cover the rules one by one.
 */

const require = createRequire(import.meta.url);
/** The framework's own naming, which the extensions must match key for key. */
const naming = require('serverless/lib/plugins/aws/lib/naming.js') as {
  getMSKEventLogicalId(functionName: string, clusterName: string, topic: string): string;
};

const CLUSTER_ARN =
  'arn:aws:kafka:eu-west-1:123456789012:cluster/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';

/** serverless.yml's defaults, with the parameters an AWS stage must give. */
const AWS_PARAMS: Record<string, string | number> = {
  kafkaAuth: 'iam',
  mskClusterArn: CLUSTER_ARN,
  subnetIds: 'subnet-0a1b2c3d4e5f60001,subnet-0a1b2c3d4e5f60002',
  securityGroupIds: 'sg-0a1b2c3d4e5f60001',
  topic: 'notifications',
  topicPartitions: 3,
  topicReplicationFactor: 3,
  deadLetterTopic: 'notifications.dlq',
  consumerGroupId: 'kafka-notifications-dev-process-notifications',
  consumerBatchSize: 100,
  consumerBatchingWindow: '',
  consumerMinimumPollers: '',
  consumerMaximumPollers: '',
  consumerMaximumRetryAttempts: '',
  consumerBisectBatchOnFunctionError: 'false',
  partialBatchResponse: 'false',
  consumerOnFailureToDeadLetterTopic: 'false',
};

const PROVISIONED = {
  consumerMinimumPollers: 1,
  consumerMaximumPollers: 4,
  consumerMaximumRetryAttempts: 3,
  consumerBisectBatchOnFunctionError: 'true',
  partialBatchResponse: 'true',
  consumerOnFailureToDeadLetterTopic: 'true',
};

/** What osls hands the exported functions: `resolveVariable('param:<name>, ''')`. */
const ctx = (overrides: Record<string, string | number> = {}) => {
  const params = { ...AWS_PARAMS, ...overrides };
  return {
    resolveVariable: async (variable: string) => {
      if (variable === 'self:provider.region') return params.region ?? 'eu-west-1';
      const name = /^param:(\w+), ''$/.exec(variable)?.[1];
      if (!name) throw new Error(`unexpected variable ${variable}`);
      return params[name] ?? '';
    },
  };
};

describe('serverless/aws.cjs', () => {
  it('derives the topic, group and transactional-id ARNs from the cluster ARN', async () => {
    expect(await aws.msk(ctx())).toEqual({
      clusterArn: CLUSTER_ARN,
      partition: 'aws',
      region: 'eu-west-1',
      account: '123456789012',
      clusterName: 'notifications',
      clusterUuid: '0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
      arns: {
        cluster: CLUSTER_ARN,
        topic:
          'arn:aws:kafka:eu-west-1:123456789012:topic/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1/notifications',
        deadLetterTopic:
          'arn:aws:kafka:eu-west-1:123456789012:topic/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1/notifications.dlq',
        consumerGroup:
          'arn:aws:kafka:eu-west-1:123456789012:group/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1/kafka-notifications-dev-process-notifications',
        // Unset: the storing group's id with `-push`.
        pushConsumerGroup:
          'arn:aws:kafka:eu-west-1:123456789012:group/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1/kafka-notifications-dev-process-notifications-push',
        publisherTransactionalIds:
          'arn:aws:kafka:eu-west-1:123456789012:transactional-id/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1/notifications-publisher-*',
      },
    });
  });

  it('accepts a serverless cluster, in another partition', async () => {
    const arn =
      'arn:aws-cn:kafka:cn-north-1:123456789012:cluster/events/5b31e9a1-e6a2-4a4a-9a75-2e2b7b9e4f5d-s1';
    const msk = await aws.msk(ctx({ mskClusterArn: arn, region: 'cn-north-1' }));
    expect(msk.arns.topic).toBe(
      'arn:aws-cn:kafka:cn-north-1:123456789012:topic/events/5b31e9a1-e6a2-4a4a-9a75-2e2b7b9e4f5d-s1/notifications',
    );
  });

  it.each([
    ['notifications', 'notifications'],
    ['my-cluster', 'orders.v2'],
    ['x', 'orders_v2-events'],
  ])('keys the extensions as the framework names the mapping (%s, %s)', async (cluster, topic) => {
    const arn = CLUSTER_ARN.replace('/notifications/', `/${cluster}/`);
    const extensions = await aws.extensions(ctx({ mskClusterArn: arn, topic }));
    expect(Object.keys(extensions)).toEqual([
      naming.getMSKEventLogicalId('processNotifications', cluster, topic),
      naming.getMSKEventLogicalId('pushNotifications', cluster, topic),
    ]);
  });

  it('gives the pushing consumer a group of its own and its own batching window', async () => {
    expect(await aws.pushConsumer(ctx({ pushConsumerGroupId: 'pushers' }))).toEqual({
      groupId: 'pushers',
      maximumBatchingWindow: null,
      provisionedPollerConfig: null,
      enabled: null,
    });
    const [, push] = Object.values(await aws.extensions(ctx({ pushBatchingWindow: 0 })));
    expect(push).toEqual({
      DependsOn: ['KafkaTopics'],
      Properties: { MaximumBatchingWindowInSeconds: 0 },
    });
    expect((await aws.pushConsumer(ctx({ pushBatchingWindow: 2 }))).maximumBatchingWindow).toBe(2);
    const same = await aws
      .extensions(ctx({ pushConsumerGroupId: AWS_PARAMS.consumerGroupId ?? '' }))
      .catch((e: unknown) => e);
    expect(String(same)).toContain('a consumer group other than consumerGroupId');
  });

  it("gives the pushing consumer AWS's low-latency setup with pushPollers: as many pollers, always", async () => {
    expect((await aws.pushConsumer(ctx({ pushPollers: 2 }))).provisionedPollerConfig).toEqual({
      minimumPollers: 2,
      maximumPollers: 2,
    });
    // The storing consumer stays on demand.
    expect((await aws.consumer(ctx({ pushPollers: 2 }))).provisionedPollerConfig).toBeNull();
    for (const wrong of [0, 201, 1.5, 'two']) {
      const error = await aws.pushConsumer(ctx({ pushPollers: wrong })).catch((e: unknown) => e);
      expect(String(error)).toContain(
        'Stage parameter "pushPollers": expected a whole number from 1 to 200',
      );
    }
  });

  it('turns the pushing consumer off with pushEnabled=false, and refuses another value', async () => {
    expect((await aws.pushConsumer(ctx({ pushEnabled: 'false' }))).enabled).toBe(false);
    expect((await aws.pushConsumer(ctx({ pushEnabled: 'true' }))).enabled).toBeNull();
    const wrong = await aws.pushConsumer(ctx({ pushEnabled: 'off' })).catch((e: unknown) => e);
    expect(String(wrong)).toContain('pushEnabled');
    expect(String(wrong)).toContain('"true" or "false"');
  });

  it('adds nothing to an on-demand mapping but the wait for the topics', async () => {
    expect(Object.values(await aws.extensions(ctx()))).toEqual([
      { DependsOn: ['KafkaTopics'], Properties: {} },
      { DependsOn: ['KafkaTopics'], Properties: {} },
    ]);
    expect(await aws.consumer(ctx())).toEqual({
      batchSize: 100,
      maximumBatchingWindow: null,
      provisionedPollerConfig: null,
      partialBatchResponse: 'false',
    });
  });

  it('puts a window of 0 in the extensions, where the framework cannot drop it', async () => {
    const [extension] = Object.values(await aws.extensions(ctx({ consumerBatchingWindow: 0 })));
    expect(extension?.Properties).toEqual({ MaximumBatchingWindowInSeconds: 0 });
    expect((await aws.consumer(ctx({ consumerBatchingWindow: 0 }))).maximumBatchingWindow).toBe(
      null,
    );
    expect((await aws.consumer(ctx({ consumerBatchingWindow: '5' }))).maximumBatchingWindow).toBe(
      5,
    );
  });

  it('turns on provisioned-mode error handling and the partial batch responses it implies', async () => {
    const [extension] = Object.values(await aws.extensions(ctx(PROVISIONED)));
    expect(extension?.Properties).toEqual({
      MaximumRetryAttempts: 3,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: 'kafka://notifications.dlq' } },
    });
    expect(await aws.consumer(ctx(PROVISIONED))).toMatchObject({
      provisionedPollerConfig: { minimumPollers: 1, maximumPollers: 4 },
      partialBatchResponse: 'true',
    });
  });

  it('places the functions in the given subnets and security groups', async () => {
    expect(await aws.vpc(ctx())).toEqual({
      subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
      securityGroupIds: ['sg-0a1b2c3d4e5f60001'],
    });
  });

  it('needs no VPC and no AWS parameter for a local broker', async () => {
    const local = ctx({
      kafkaAuth: 'none',
      subnetIds: '',
      securityGroupIds: '',
      mskClusterArn:
        'arn:aws:kafka:us-east-1:000000000000:cluster/local/00000000-0000-0000-0000-000000000000-1',
    });
    expect(await aws.vpc(local)).toBeNull();
  });

  it('lists the topics to create with their partitions, 3 replicas and min.insync.replicas 2', async () => {
    const replicated = { ReplicationFactor: 3, MinInsyncReplicas: 2 };
    expect(await aws.topics(ctx({ topicPartitions: '6' }))).toEqual([
      { Name: 'notifications', Partitions: 6, ...replicated },
      { Name: 'notifications.dlq', Partitions: 6, ...replicated },
    ]);
  });

  it('keeps min.insync.replicas one below the replicas on a two-zone cluster (2 replicas)', async () => {
    const topics = await aws.topics(ctx({ topicReplicationFactor: '2' }));
    expect(topics.map((t) => [t.ReplicationFactor, t.MinInsyncReplicas])).toEqual([
      [2, 1],
      [2, 1],
    ]);
  });

  it.each([
    [{ mskClusterArn: '' }, 'mskClusterArn', 'an MSK cluster ARN'],
    [{ mskClusterArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/x' }, 'mskClusterArn', 'ARN'],
    [{ region: 'us-east-1' }, 'mskClusterArn', '--region eu-west-1'],
    [{ subnetIds: '' }, 'subnetIds', 'private subnets'],
    [{ subnetIds: 'subnet-1,bogus' }, 'subnetIds', 'comma-separated list'],
    [{ securityGroupIds: '' }, 'securityGroupIds', 'port 9098'],
    [{ kafkaAuth: 'scram' }, 'kafkaAuth', '"iam"'],
    [{ topic: 'my topic' }, 'topic', 'Kafka topic name'],
    [{ deadLetterTopic: 'notifications' }, 'deadLetterTopic', 'other than'],
    [{ topicPartitions: 0 }, 'topicPartitions', 'from 1 to 10000'],
    [{ topicReplicationFactor: 0 }, 'topicReplicationFactor', 'from 1 to 15'],
    [{ consumerBatchSize: 10_001 }, 'consumerBatchSize', 'from 1 to 10000'],
    [{ consumerBatchingWindow: 301 }, 'consumerBatchingWindow', 'from 0 to 300'],
    [{ consumerBatchingWindow: 0.5 }, 'consumerBatchingWindow', 'whole number'],
    [{ consumerGroupId: 'has space' }, 'consumerGroupId', '1 to 200'],
    [{ partialBatchResponse: 'yes' }, 'partialBatchResponse', '"true" or "false"'],
    [{ partialBatchResponse: 'true' }, 'consumerMinimumPollers', 'needed by partialBatchResponse'],
    [
      { consumerMaximumRetryAttempts: 2, consumerOnFailureToDeadLetterTopic: 'true' },
      'consumerMinimumPollers',
      'consumerMaximumRetryAttempts, consumerOnFailureToDeadLetterTopic',
    ],
    [{ consumerMaximumPollers: 2 }, 'consumerMinimumPollers', 'consumerMaximumPollers is set'],
    [
      { consumerMinimumPollers: 3, consumerMaximumPollers: 2 },
      'consumerMaximumPollers',
      'at least consumerMinimumPollers (3)',
    ],
  ])('stops packaging on %j, naming %s and what it expects', async (overrides, name, expected) => {
    const error = await aws.extensions(ctx(overrides)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(aws.ParameterError);
    expect(String(error)).toContain(`Stage parameter "${name}"`);
    expect(String(error)).toContain(expected);
    expect(String(error)).toContain(`--param "${name}=<value>"`);
  });
});
