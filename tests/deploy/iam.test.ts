import { beforeAll, describe, expect, it } from 'vitest';
import {
  EXAMPLE,
  exampleResources,
  FUNCTIONS,
  PUSH_GROUP,
  type Resource,
  resource,
  STAGE,
} from '../helpers/example-package.js';

/**
 * The roles of `sls package --stage example`: each function's own, each statement scoped to the
 * cluster, topic, group, table or API it needs, and nothing more.
 */

const MSK_PREFIX = 'arn:aws:kafka:us-east-1:123456789012';
const CLUSTER = 'notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1';
const ARNS = {
  cluster: EXAMPLE.clusterArn,
  topic: `${MSK_PREFIX}:topic/${CLUSTER}/notifications`,
  deadLetterTopic: `${MSK_PREFIX}:topic/${CLUSTER}/notifications.dlq`,
  group: `${MSK_PREFIX}:group/${CLUSTER}/${EXAMPLE.consumerGroupId}`,
  transactionalIds: `${MSK_PREFIX}:transactional-id/${CLUSTER}/notifications-publisher-*`,
} as const;
const INBOX_TABLE_ARN = { 'Fn::GetAtt': ['InboxTable', 'Arn'] };
const inboxIndex = (name: string) => ({
  'Fn::Join': ['', [INBOX_TABLE_ARN, `/index/${name}`]],
});
const IDEMPOTENCY_TABLE_ARN = { 'Fn::GetAtt': ['IdempotencyTable', 'Arn'] };
const CONNECTIONS_TABLE_ARN = { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] };
/** This stage's `@connections` API, and nothing else: `<api>/<stage>/POST/@connections/<id>`. */
/** This stage's `@connections` API, by method: POST to push, DELETE to close a session. */
const manageConnectionsArn = (method: 'POST' | 'DELETE') => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':execute-api:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      ':',
      { Ref: 'WebsocketsApi' },
      `/example/${method}/@connections/*`,
    ],
  ],
});
const MANAGE_CONNECTIONS = {
  Action: ['execute-api:ManageConnections'],
  Resource: [manageConnectionsArn('POST'), manageConnectionsArn('DELETE')],
};
interface Statement {
  Sid: string;
  Effect: string;
  Action: string[];
  Resource: unknown;
}

let resources: Record<string, Resource> = {};

beforeAll(() => {
  resources = exampleResources();
});

/** Each statement of a role's policy, by Sid. */
const statementsOf = (role: string): Record<string, Omit<Statement, 'Sid' | 'Effect'>> => {
  const policies = resource(role).Properties.Policies as {
    PolicyDocument: { Statement: Statement[] };
  }[];
  const statements = policies.flatMap((p) => p.PolicyDocument.Statement);
  expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
  return Object.fromEntries(
    statements.map(({ Sid, Action, Resource }) => [Sid, { Action, Resource }]),
  );
};

const logs = (name: string) => ({
  Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  Resource: { 'Fn::GetAtt': [`${name}LogGroup`, 'Arn'] },
});
const FUNCTION_ENIS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];
/** The network interfaces of an MSK event source mapping. */
const MAPPING_ENIS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeVpcs',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
];
/** What an MSK event source mapping needs to read the topic, and `clusterActions` besides. */
const mappingReads = (clusterActions: string[] = []) => ({
  DescribeCluster: {
    Action: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
    Resource: ARNS.cluster,
  },
  ConnectToCluster: {
    Action: [
      'kafka-cluster:Connect',
      'kafka-cluster:DescribeClusterDynamicConfiguration',
      ...clusterActions,
    ],
    Resource: ARNS.cluster,
  },
  ReadNotifications: {
    Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
    Resource: ARNS.topic,
  },
});
const useGroup = (group: string) => ({
  Action: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
  Resource: group,
});
/** Finding a user's connections, forgetting gone ones, and posting to this stage's only. */
const PUSH_TO_CONNECTIONS = {
  UseConnections: {
    Action: ['dynamodb:Query', 'dynamodb:DeleteItem'],
    Resource: CONNECTIONS_TABLE_ARN,
  },
  PostToConnections: MANAGE_CONNECTIONS,
};

describe(`sls package --stage ${STAGE}`, () => {
  it("lets the WebSocket routes record, find and forget connections, and close this API's sessions (past the limit, or expired), and nothing else", () => {
    expect(statementsOf('ConnectionsRole')).toEqual({
      WriteOwnLogs: logs('Connections'),
      RecordConnections: {
        Action: ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:Query'],
        Resource: CONNECTIONS_TABLE_ARN,
      },
      FindConnection: {
        Action: ['dynamodb:Query'],
        Resource: { 'Fn::Join': ['', [CONNECTIONS_TABLE_ARN, '/index/byConnection']] },
      },
      CloseSessions: MANAGE_CONNECTIONS,
    });
  });

  it("lets the pushing consumer read the topic in its own group and post to this API's connections only", () => {
    expect(statementsOf('PushNotificationsRole')).toEqual({
      WriteOwnLogs: logs('PushNotifications'),
      ManageNetworkInterfaces: { Action: MAPPING_ENIS, Resource: '*' },
      ...mappingReads(),
      UsePushConsumerGroup: useGroup(`${MSK_PREFIX}:group/${CLUSTER}/${PUSH_GROUP}`),
      ...PUSH_TO_CONNECTIONS,
    });
  });

  it('lets the read routes mark the inbox read and post to connections, and the page nothing', () => {
    expect(statementsOf('ReadNotificationsRole')).toEqual({
      WriteOwnLogs: logs('ReadNotifications'),
      MarkRead: {
        Action: ['dynamodb:Query', 'dynamodb:UpdateItem'],
        Resource: [INBOX_TABLE_ARN, inboxIndex('unread')],
      },
      ...PUSH_TO_CONNECTIONS,
    });
    expect(statementsOf('WebPageRole')).toEqual({ WriteOwnLogs: logs('WebPage') });
  });

  it('gives every function its own role and creates no shared one', () => {
    const roles = Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Role')
      .map(([id]) => id)
      .sort();
    expect(roles).toEqual(FUNCTIONS.map((f) => `${f}Role`).sort());
  });

  it('lets the producer find the brokers and write its topic, idempotently and in transactions', () => {
    expect(statementsOf('SendNotificationRole')).toEqual({
      WriteOwnLogs: logs('SendNotification'),
      ManageNetworkInterfaces: { Action: FUNCTION_ENIS, Resource: '*' },
      FindBrokers: { Action: ['kafka:GetBootstrapBrokers'], Resource: ARNS.cluster },
      ConnectToCluster: {
        Action: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'],
        Resource: ARNS.cluster,
      },
      WriteNotifications: {
        Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
        Resource: ARNS.topic,
      },
      UsePublisherTransactions: {
        Action: ['kafka-cluster:DescribeTransactionalId', 'kafka-cluster:AlterTransactionalId'],
        Resource: ARNS.transactionalIds,
      },
      KeepIdempotencyKeys: {
        Action: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
        ],
        Resource: IDEMPOTENCY_TABLE_ARN,
      },
    });
  });

  it('lets the consumer and its mapping read the topic in its group, dead-letter, and store', () => {
    expect(statementsOf('ProcessNotificationsRole')).toEqual({
      WriteOwnLogs: logs('ProcessNotifications'),
      ManageNetworkInterfaces: {
        Action: [...MAPPING_ENIS, 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
        Resource: '*',
      },
      ...mappingReads(['kafka-cluster:WriteDataIdempotently']),
      UseConsumerGroup: useGroup(ARNS.group),
      WriteDeadLetters: {
        Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
        Resource: ARNS.deadLetterTopic,
      },
      StoreInInbox: {
        Action: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem'],
        Resource: INBOX_TABLE_ARN,
      },
    });
  });

  it("lets the inbox reader query its table's indexes and nothing else", () => {
    expect(statementsOf('ListNotificationsRole')).toEqual({
      WriteOwnLogs: logs('ListNotifications'),
      ReadInbox: {
        Action: ['dynamodb:Query'],
        Resource: [inboxIndex('timeline'), inboxIndex('unread')],
      },
    });
  });

  it('lets the topic creator create and describe the two topics only', () => {
    expect(statementsOf('ProvisionTopicsRole')).toEqual({
      WriteOwnLogs: logs('ProvisionTopics'),
      ManageNetworkInterfaces: { Action: FUNCTION_ENIS, Resource: '*' },
      FindBrokers: { Action: ['kafka:GetBootstrapBrokers'], Resource: ARNS.cluster },
      ConnectToCluster: { Action: ['kafka-cluster:Connect'], Resource: ARNS.cluster },
      CreateTopics: {
        Action: ['kafka-cluster:CreateTopic', 'kafka-cluster:DescribeTopic'],
        Resource: [ARNS.topic, ARNS.deadLetterTopic],
      },
    });
  });

  it('scopes every Kafka and DynamoDB action: only network interfaces use "*"', () => {
    for (const role of FUNCTIONS.map((f) => `${f}Role`)) {
      for (const [sid, { Action, Resource }] of Object.entries(statementsOf(role))) {
        const where = `${role} ${sid}`;
        expect(
          Action.filter((a) => a.includes('*')),
          where,
        ).toEqual([]);
        if (Action.every((a) => a.startsWith('ec2:'))) continue;
        for (const r of [Resource].flat()) {
          expect(r, where).not.toBe('*');
          // The one pattern: the producer's transactional ids, `<topic>-publisher-<uuid>`.
          if (typeof r === 'string' && r.includes('*'))
            expect(r, where).toBe(ARNS.transactionalIds);
        }
      }
    }
  });
});
