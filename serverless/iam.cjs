// @ts-check
'use strict';

const { readSettings } = require('./aws.cjs');
const { connectionsArn } = require('./realtime.cjs');

/**
 * One execution role per function, each allowed only what that function (and, for the consumer,
 * its event source mapping) does, on the resources it does it to. serverless.yml includes them
 * as `${file(./serverless/iam.cjs):<role>}` and gives each function its own with `role:`, so the
 * framework's shared role (every statement for every function) is never created.
 *
 * Kafka data actions are scoped to MSK's resource ARNs (MSK developer guide, `kafka-actions`):
 * the cluster, one topic, one group, one transactional-id prefix; the DynamoDB ones to the inbox
 * table. Only the EC2 network-interface actions use `*`: they do not support resource-level
 * permissions the way Lambda calls them (Lambda developer guide, `configuration-vpc`).
 */

/** The inbox table's resource (serverless/resources/inbox-table.json). */
const INBOX_TABLE = 'InboxTable';

const INBOX_TABLE_ARN = { 'Fn::GetAtt': [INBOX_TABLE, 'Arn'] };

/** The WebSocket connections table (serverless/resources/connections-table.json). */
const CONNECTIONS_TABLE = 'ConnectionsTable';

const CONNECTIONS_TABLE_ARN = { 'Fn::GetAtt': [CONNECTIONS_TABLE, 'Arn'] };

/**
 * One index of a table (`<table arn>/index/<name>`): a query of an index is authorized on the
 * index's ARN, not the table's (DynamoDB developer guide, `specifying-conditions`).
 * @param {unknown} tableArn
 * @param {string} name
 */
const indexArn = (tableArn, name) => ({ 'Fn::Join': ['', [tableArn, `/index/${name}`]] });
/** @param {string} name */
const inboxIndexArn = (name) => indexArn(INBOX_TABLE_ARN, name);
/** The Idempotency-Keys' table (serverless/resources/idempotency-table.json). */
const IDEMPOTENCY_TABLE = 'IdempotencyTable';

const POLICY_VERSION = '2012-10-17';

/**
 * @typedef {import('./aws.cjs').Settings} Settings
 * @typedef {Settings['msk']['arns']} MskArns
 * @typedef {{ Sid: string, Effect: 'Allow', Action: string[], Resource: unknown }} Statement
 */

/**
 * One statement that allows `actions` on `resource`.
 * @param {string} sid
 * @param {readonly string[]} actions
 * @param {unknown} resource
 * @returns {Statement}
 */
const allow = (sid, actions, resource) => ({
  Sid: sid,
  Effect: 'Allow',
  Action: [...actions],
  Resource: resource,
});

/**
 * Writing to the function's own log group, which the framework creates as `<Function>LogGroup`.
 * @param {string} fn normalized function name, such as `SendNotification`
 */
const ownLogs = (fn) =>
  allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], {
    'Fn::GetAtt': [`${fn}LogGroup`, 'Arn'],
  });

/** What Lambda needs to attach a function to the VPC (as in AWSLambdaVPCAccessExecutionRole). */
const FUNCTION_ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

/** What the MSK event source mapping needs to reach the cluster (`with-msk-permissions`). */
const MAPPING_ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeVpcs',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
];

/** @param {readonly string[]} actions */
const networkInterfaces = (actions) => allow('ManageNetworkInterfaces', [...new Set(actions)], '*');

/**
 * Finding the brokers of the cluster, as a function that connects itself does.
 * @param {MskArns} arns
 */
const findBrokers = (arns) => allow('FindBrokers', ['kafka:GetBootstrapBrokers'], arns.cluster);

/**
 * What an MSK event source mapping needs to read the topic in its consumer group
 * (`with-msk-permissions`), besides its network interfaces.
 * @param {MskArns} arns
 * @param {{ groupSid: string, group: string, clusterActions?: readonly string[] }} mapping
 *   the group's statement id and ARN, and cluster actions its function needs besides
 */
const mappingReads = (arns, { groupSid, group, clusterActions = [] }) => [
  allow('DescribeCluster', ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'], arns.cluster),
  allow(
    'ConnectToCluster',
    [
      'kafka-cluster:Connect',
      // The mapping reads the cluster's configuration with IAM auth (`with-msk-configure`).
      'kafka-cluster:DescribeClusterDynamicConfiguration',
      ...clusterActions,
    ],
    arns.cluster,
  ),
  allow('ReadNotifications', ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'], arns.topic),
  allow(groupSid, ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'], group),
];

/**
 * @param {string} fn
 * @param {Statement[]} statements
 */
const role = (fn, statements) => ({
  Type: 'AWS::IAM::Role',
  Properties: {
    Description: `Execution role of the ${fn} function: only what it needs.`,
    AssumeRolePolicyDocument: {
      Version: POLICY_VERSION,
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'lambda.amazonaws.com' },
          Action: 'sts:AssumeRole',
        },
      ],
    },
    Policies: [
      {
        PolicyName: `${fn}Permissions`,
        PolicyDocument: { Version: POLICY_VERSION, Statement: [ownLogs(fn), ...statements] },
      },
    ],
  },
});

/**
 * The producer: looks up the brokers, connects, and writes to the notifications topic with an
 * idempotent producer, in a transaction when a batch spans partitions; keeps Idempotency-Keys.
 * @param {Settings} s
 */
const sendNotificationRole = ({ msk: { arns } }) =>
  role('SendNotification', [
    networkInterfaces(FUNCTION_ENI_ACTIONS),
    findBrokers(arns),
    // WriteDataIdempotently is a cluster action: MSK accepts no other resource for it.
    allow(
      'ConnectToCluster',
      ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'],
      arns.cluster,
    ),
    allow(
      'WriteNotifications',
      ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
      arns.topic,
    ),
    allow(
      'UsePublisherTransactions',
      ['kafka-cluster:DescribeTransactionalId', 'kafka-cluster:AlterTransactionalId'],
      arns.publisherTransactionalIds,
    ),
    // What Powertools' DynamoDB persistence layer calls (its Idempotency docs, IAM permissions).
    allow(
      'KeepIdempotencyKeys',
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      { 'Fn::GetAtt': [IDEMPOTENCY_TABLE, 'Arn'] },
    ),
  ]);

/**
 * The consumer and its event source mapping: the mapping reads the topic in its group; the
 * function stores into the inbox and writes poison records (and, with the on-failure
 * destination, the mapping writes failed ones) to the dead-letter topic.
 * @param {Settings} s
 */
const processNotificationsRole = ({ msk: { arns } }) =>
  role('ProcessNotifications', [
    networkInterfaces([...MAPPING_ENI_ACTIONS, ...FUNCTION_ENI_ACTIONS]),
    ...mappingReads(arns, {
      groupSid: 'UseConsumerGroup',
      group: arns.consumerGroup,
      clusterActions: ['kafka-cluster:WriteDataIdempotently'],
    }),
    allow(
      'WriteDeadLetters',
      ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
      arns.deadLetterTopic,
    ),
    // BatchGetItem first: what is stored already is never written again (shared/inbox/store.ts).
    allow('StoreInInbox', ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem'], INBOX_TABLE_ARN),
  ]);

/**
 * The inbox reader: queries the `timeline` index and counts the `unread` one, nothing else (and
 * no VPC: it never talks to Kafka).
 */
const listNotificationsRole = () =>
  role('ListNotifications', [
    allow('ReadInbox', ['dynamodb:Query'], [inboxIndexArn('timeline'), inboxIndexArn('unread')]),
  ]);

/**
 * The deploy-time topic creator (functions/provision-topics): creates and describes the two
 * topics, so that no function needs `CreateTopic` at request time.
 * @param {Settings} s
 */
const provisionTopicsRole = ({ msk: { arns } }) =>
  role('ProvisionTopics', [
    networkInterfaces(FUNCTION_ENI_ACTIONS),
    findBrokers(arns),
    allow('ConnectToCluster', ['kafka-cluster:Connect'], arns.cluster),
    allow(
      'CreateTopics',
      ['kafka-cluster:CreateTopic', 'kafka-cluster:DescribeTopic'],
      [arns.topic, arns.deadLetterTopic],
    ),
  ]);

/**
 * Finding a user's connections and removing those that are gone, then posting to them through
 * this stage's `@connections` API only.
 * @param {string} stage
 * @returns {Statement[]}
 */
const pushStatements = (stage) => [
  allow('UseConnections', ['dynamodb:Query', 'dynamodb:DeleteItem'], CONNECTIONS_TABLE_ARN),
  allow(
    'PostToConnections',
    ['execute-api:ManageConnections'],
    [connectionsArn(stage, 'POST'), connectionsArn(stage, 'DELETE')],
  ),
];

/**
 * The WebSocket routes (functions/connections): record a connection at `$connect` and list the
 * user's others (to close the oldest past the limit), find it by its id (a message: is its token
 * still valid?) and remove it at `$disconnect`, and close sessions (a closing message, then
 * `DeleteConnection`). No VPC, no Kafka.
 * @param {Settings} _s
 * @param {string} stage
 */
const connectionsRole = (_s, stage) =>
  role('Connections', [
    allow(
      'RecordConnections',
      ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:Query'],
      CONNECTIONS_TABLE_ARN,
    ),
    allow('FindConnection', ['dynamodb:Query'], indexArn(CONNECTIONS_TABLE_ARN, 'byConnection')),
    allow(
      'CloseSessions',
      ['execute-api:ManageConnections'],
      [connectionsArn(stage, 'POST'), connectionsArn(stage, 'DELETE')],
    ),
  ]);

/**
 * The pushing consumer and its event source mapping: the mapping reads the topic in the push
 * group (its network interfaces are the mapping's, in the cluster's VPC); the function itself
 * runs outside the VPC, so that it reaches DynamoDB and API Gateway without a NAT.
 * @param {Settings} s
 * @param {string} stage
 */
const pushNotificationsRole = ({ msk: { arns } }, stage) =>
  role('PushNotifications', [
    networkInterfaces(MAPPING_ENI_ACTIONS),
    ...mappingReads(arns, { groupSid: 'UsePushConsumerGroup', group: arns.pushConsumerGroup }),
    ...pushStatements(stage),
  ]);

/**
 * The read routes: mark a notification read by its key, find and count unread ones (the `unread`
 * index), then tell the caller's other sessions.
 * @param {string} stage
 */
const readNotificationsRole = (stage) =>
  role('ReadNotifications', [
    allow(
      'MarkRead',
      ['dynamodb:Query', 'dynamodb:UpdateItem'],
      [INBOX_TABLE_ARN, inboxIndexArn('unread')],
    ),
    ...pushStatements(stage),
  ]);

/** The page: static files, nothing else. */
const webPageRole = () => role('WebPage', []);

/**
 * @param {(s: Settings, stage: string) => unknown} build
 * @returns {(ctx: import('./aws.cjs').ResolverContext) => Promise<unknown>}
 */
const resolver =
  (build) =>
  async ({ resolveVariable }) =>
    build(await readSettings(resolveVariable), String(await resolveVariable('sls:stage')));

module.exports = {
  sendNotificationRole: resolver(sendNotificationRole),
  processNotificationsRole: resolver(processNotificationsRole),
  listNotificationsRole: resolver(listNotificationsRole),
  provisionTopicsRole: resolver(provisionTopicsRole),
  connectionsRole: resolver(connectionsRole),
  pushNotificationsRole: resolver(pushNotificationsRole),
  readNotificationsRole: resolver((_s, stage) => readNotificationsRole(stage)),
  webPageRole: resolver(webPageRole),
};
