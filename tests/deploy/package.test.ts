import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import definition from '../../plugins/serverless-offline-kafka/src/definition.js';
import {
  CFN_LINT_BIN,
  CFN_LINT_INSTALL_HINT,
  formatFindings,
  installedCfnLintVersion,
  lintTemplates,
} from '../../scripts/lib/cfn-lint.js';
import { packageDir, packageStage, TEMPLATES } from '../../scripts/lib/package.js';
import { ROOT } from '../../scripts/lib/paths.js';
import { run } from '../../scripts/lib/process.js';
import { loadConfig } from '../../shared/config.js';

/**
 * The deployment, proven without an AWS account: `sls package --stage example` (the example
 * parameters of serverless.yml), AWS's cfn-lint on the templates, and the template itself read
 * resource by resource. Packaging needs no credentials.
 */

const STAGE = 'example';
/** serverless.yml `params.example`. */
const EXAMPLE = {
  clusterArn:
    'arn:aws:kafka:us-east-1:123456789012:cluster/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
  subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
  securityGroupIds: ['sg-0a1b2c3d4e5f60001'],
  consumerGroupId: 'kafka-notifications-example-process-notifications',
  inboxTable: 'kafka-notifications-example-inbox',
  idempotencyTable: 'kafka-notifications-example-idempotency',
} as const;
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
const MAPPING = 'ProcessNotificationsEventSourceMappingMSKNotificationsNotifications';
const FUNCTIONS = [
  'SendNotification',
  'ProcessNotifications',
  'ListNotifications',
  'ProvisionTopics',
  'Connections',
  'PushNotifications',
  'ReadNotifications',
  'WebPage',
];
/** The pushing consumer's mapping: the same cluster and topic, another function and group. */
const PUSH_MAPPING = 'PushNotificationsEventSourceMappingMSKNotificationsNotifications';
const PUSH_GROUP = 'kafka-notifications-example-push-notifications';
const CONNECTIONS_TABLE_ARN = { 'Fn::GetAtt': ['ConnectionsTable', 'Arn'] };
/** This stage's `@connections` API, and nothing else: `<api>/<stage>/POST/@connections/<id>`. */
const MANAGE_CONNECTIONS_ARN = {
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
      '/example/POST/@connections/*',
    ],
  ],
};
const IN_VPC = ['SendNotification', 'ProcessNotifications', 'ProvisionTopics'];

/** The page's routes: public. */
const PAGE_ROUTES = new Set(['GET /', 'GET /assets/{file}']);

/** Whether a route belongs to the HTTP API (else to the WebSocket API). */
const isHttpApi = (route: Resource): boolean =>
  JSON.stringify(route.Properties.ApiId) === JSON.stringify({ Ref: 'HttpApi' });

interface Resource {
  Type: string;
  DependsOn?: string[];
  Properties: Record<string, unknown>;
}
interface Statement {
  Sid: string;
  Effect: string;
  Action: string[];
  Resource: unknown;
}

let outDir = '';
let resources: Record<string, Resource> = {};

const resource = (id: string): Resource => {
  const found = resources[id];
  if (!found) throw new Error(`the template has no resource ${id}`);
  return found;
};

const fn = (name: string) => resource(`${name}LambdaFunction`).Properties;

const envOf = (name: string) =>
  (fn(name).Environment as { Variables: Record<string, string> }).Variables;

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
  PostToConnections: {
    Action: ['execute-api:ManageConnections'],
    Resource: MANAGE_CONNECTIONS_ARN,
  },
};

beforeAll(() => {
  outDir = packageDir(STAGE);
  packageStage({ stage: STAGE, outDir });
  const template = JSON.parse(readFileSync(join(outDir, TEMPLATES.update), 'utf8')) as {
    Resources: Record<string, Resource>;
  };
  resources = template.Resources;
});

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe(`sls package --stage ${STAGE}`, () => {
  it("passes AWS's cfn-lint with no errors (warnings are printed)", () => {
    const version = installedCfnLintVersion();
    if (!version) {
      throw new Error(`cfn-lint is not installed at ${CFN_LINT_BIN}: ${CFN_LINT_INSTALL_HINT}.`);
    }
    const findings = lintTemplates(Object.values(TEMPLATES).map((t) => join(outDir, t)));
    const notes = findings.filter((f) => f.level !== 'Error');
    if (notes.length > 0) {
      process.stderr.write(
        `cfn-lint ${version}, ${notes.length} warnings:\n${formatFindings(notes)}\n`,
      );
    }
    expect(formatFindings(findings.filter((f) => f.level === 'Error'))).toBe('');
  });

  it('maps the topic to the consumer with its group, batching and provisioned-mode error handling', () => {
    const mapping = resource(MAPPING);
    expect(mapping.Type).toBe('AWS::Lambda::EventSourceMapping');
    expect(mapping.DependsOn).toEqual(
      expect.arrayContaining(['ProcessNotificationsRole', 'KafkaTopics']),
    );
    expect(mapping.Properties).toEqual({
      EventSourceArn: EXAMPLE.clusterArn,
      FunctionName: { 'Fn::GetAtt': ['ProcessNotificationsLambdaFunction', 'Arn'] },
      Topics: ['notifications'],
      StartingPosition: 'TRIM_HORIZON',
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: EXAMPLE.consumerGroupId },
      BatchSize: 50,
      // 0 comes through resources.extensions: the framework drops `maximumBatchingWindow: 0`.
      MaximumBatchingWindowInSeconds: 0,
      ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 3 },
      MaximumRetryAttempts: 3,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: 'kafka://notifications.dlq' } },
    });
    const mappings = Object.values(resources).filter(
      (r) => r.Type === 'AWS::Lambda::EventSourceMapping',
    );
    expect(mappings).toHaveLength(2);
  });

  it('maps the same topic to the pushing consumer, in a group of its own, with no batching window', () => {
    const mapping = resource(PUSH_MAPPING);
    expect(mapping.DependsOn).toEqual(
      expect.arrayContaining(['PushNotificationsRole', 'KafkaTopics']),
    );
    expect(mapping.Properties).toEqual({
      EventSourceArn: EXAMPLE.clusterArn,
      FunctionName: { 'Fn::GetAtt': ['PushNotificationsLambdaFunction', 'Arn'] },
      Topics: ['notifications'],
      StartingPosition: 'LATEST',
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: PUSH_GROUP },
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: 0,
    });
  });

  it('creates the topics at deploy time through the custom resource', () => {
    expect(resource('KafkaTopics')).toEqual({
      Type: 'Custom::KafkaTopics',
      Properties: {
        ServiceToken: { 'Fn::GetAtt': ['ProvisionTopicsLambdaFunction', 'Arn'] },
        ServiceTimeout: 300,
        ClusterArn: EXAMPLE.clusterArn,
        Topics: [
          // A three-zone cluster's settings (docs/deploy.md, "Topic settings").
          { Name: 'notifications', Partitions: 6, ReplicationFactor: 3, MinInsyncReplicas: 2 },
          { Name: 'notifications.dlq', Partitions: 6, ReplicationFactor: 3, MinInsyncReplicas: 2 },
        ],
      },
    });
  });

  it.each(FUNCTIONS)('runs %s on nodejs22.x arm64 with its own role', (name) => {
    expect(fn(name)).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Role: { 'Fn::GetAtt': [`${name}Role`, 'Arn'] },
    });
    expect(resource(`${name}Role`).Properties.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'lambda.amazonaws.com' },
          Action: 'sts:AssumeRole',
        },
      ],
    });
  });

  it("places the Kafka clients in the cluster's VPC, and only them", () => {
    for (const name of FUNCTIONS) {
      expect(fn(name).VpcConfig, name).toEqual(
        IN_VPC.includes(name)
          ? { SubnetIds: [...EXAMPLE.subnetIds], SecurityGroupIds: [...EXAMPLE.securityGroupIds] }
          : undefined,
      );
    }
  });

  it('configures IAM auth with brokers looked up from the cluster, and no local endpoints', () => {
    for (const name of FUNCTIONS) {
      const env = envOf(name);
      expect(env, name).toMatchObject({
        KAFKA_AUTH: 'iam',
        MSK_CLUSTER_ARN: EXAMPLE.clusterArn,
        NOTIFICATIONS_TOPIC: 'notifications',
        NOTIFICATIONS_TOPIC_PARTITIONS: '6',
        NOTIFICATIONS_DLQ_TOPIC: 'notifications.dlq',
        INBOX_TABLE: EXAMPLE.inboxTable,
        IDEMPOTENCY_TABLE: EXAMPLE.idempotencyTable,
      });
      expect(Object.keys(env), name).not.toContain('KAFKA_BROKERS');
      expect(Object.keys(env), name).not.toContain('DYNAMODB_ENDPOINT');
      // Lambda sets AWS_REGION itself (and refuses it as a function variable).
      expect(Object.keys(env), name).not.toContain('AWS_REGION');
    }
    expect(envOf('ProcessNotifications').PARTIAL_BATCH_RESPONSE).toBe('true');
    expect(envOf('SendNotification').PARTIAL_BATCH_RESPONSE).toBeUndefined();
  });

  it('puts the JWT authorizer on every route of the HTTP API but the public page, with the sign-in scope', () => {
    const routes = Object.values(resources).filter(
      (r) => r.Type === 'AWS::ApiGatewayV2::Route' && isHttpApi(r),
    );
    expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual([
      'GET /',
      'GET /assets/{file}',
      'GET /me/notifications',
      'GET /notifications/{userId}',
      'POST /notifications',
      'POST /notifications/read',
      'POST /notifications/{id}/read',
      'POST /send',
    ]);
    for (const route of routes) {
      // The page and its two files: static, public as any page is; what it shows needs a token.
      if (PAGE_ROUTES.has(String(route.Properties.RouteKey))) {
        expect(route.Properties.AuthorizationType ?? 'NONE').toBe('NONE');
        continue;
      }
      expect(route.Properties, String(route.Properties.RouteKey)).toMatchObject({
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: 'HttpApiAuthorizerIdentity' },
        AuthorizationScopes: ['aws.cognito.signin.user.admin'],
      });
    }
    expect(resource('HttpApiAuthorizerIdentity').Properties).toEqual({
      ApiId: { Ref: 'HttpApi' },
      Name: 'identity',
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
        Issuer: { 'Fn::Sub': 'https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}' },
        Audience: [{ Ref: 'UserPoolClient' }],
      },
    });
  });

  it('creates the Cognito user pool and a public app client whose access tokens it accepts', () => {
    expect(resource('UserPool')).toMatchObject({
      Type: 'AWS::Cognito::UserPool',
      Properties: { AdminCreateUserConfig: { AllowAdminCreateUserOnly: true } },
    });
    expect(resource('UserPoolClient')).toMatchObject({
      Type: 'AWS::Cognito::UserPoolClient',
      Properties: {
        UserPoolId: { Ref: 'UserPool' },
        GenerateSecret: false,
        EnableTokenRevocation: true,
        AccessTokenValidity: 60,
        TokenValidityUnits: { AccessToken: 'minutes' },
      },
    });
  });

  it('lets the functions read the verified claims, with no demo mode and no local issuer', () => {
    for (const name of FUNCTIONS) {
      const env = envOf(name);
      expect(env, name).toMatchObject({ AUTH_MODE: 'gateway', AUTH_USER_ID_CLAIM: 'username' });
      // $connect verifies the token itself (next test): WebSocket APIs have no JWT authorizer.
      if (name === 'Connections') continue;
      for (const local of ['DEMO_MODE', 'AUTH_SCOPES', 'AUTH_JWKS_FILE', 'AUTH_ISSUER']) {
        expect(Object.keys(env), `${name} ${local}`).not.toContain(local);
      }
    }
  });

  it('writes metrics on AWS, where CloudWatch reads their EMF lines', () => {
    for (const name of FUNCTIONS) {
      expect(envOf(name).POWERTOOLS_METRICS_DISABLED, name).toBe('false');
    }
  });

  it("verifies $connect's token with the authorizer's issuer, audience and scope, and the pool's keys", () => {
    const issuer = {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
      'Fn::Sub': 'https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}',
    };
    expect(envOf('Connections')).toMatchObject({
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: { Ref: 'UserPoolClient' },
      AUTH_SCOPES: 'aws.cognito.signin.user.admin',
      AUTH_JWKS_URL: { 'Fn::Join': ['', [issuer, '/.well-known/jwks.json']] },
    });
    expect(Object.keys(envOf('Connections'))).not.toContain('AUTH_JWKS_FILE');
  });

  it('routes $connect, $disconnect, ping and $default of the WebSocket API to the connections function', () => {
    const routes = Object.values(resources).filter(
      (r) => r.Type === 'AWS::ApiGatewayV2::Route' && !isHttpApi(r),
    );
    expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual([
      '$connect',
      '$default',
      '$disconnect',
      'ping',
    ]);
    expect(resource('WebsocketsApi').Properties).toMatchObject({
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
    // The functions that push know where: this API's stage.
    for (const name of ['PushNotifications', 'ReadNotifications']) {
      expect(envOf(name).WEBSOCKET_ENDPOINT, name).toEqual({
        'Fn::Join': [
          '',
          [
            'https://',
            { Ref: 'WebsocketsApi' },
            '.execute-api.',
            { Ref: 'AWS::Region' },
            '.',
            { Ref: 'AWS::URLSuffix' },
            '/example',
          ],
        ],
      });
    }
    expect(envOf('WebPage')).toMatchObject({
      PAGE_SIGN_IN: 'cognito',
      PAGE_COGNITO_CLIENT_ID: { Ref: 'UserPoolClient' },
    });
  });

  it('has no local token route and no function behind one on an AWS stage', () => {
    const keys = Object.values(resources)
      .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
      .map((r) => String(r.Properties.RouteKey));
    expect(keys.filter((k) => k.includes('/local/'))).toEqual([]);
    expect(Object.keys(resources).filter((id) => id.startsWith('LocalToken'))).toEqual([]);
  });

  it('keeps connections in a table with a time to live, found by connection id through an index', () => {
    expect(resource('ConnectionsTable').Properties).toMatchObject({
      TableName: 'kafka-notifications-example-connections',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [expect.objectContaining({ IndexName: 'byConnection' })],
    });
  });

  it('lets the WebSocket routes record, find and forget connections, and nothing else', () => {
    expect(statementsOf('ConnectionsRole')).toEqual({
      WriteOwnLogs: logs('Connections'),
      RecordConnections: {
        Action: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
        Resource: CONNECTIONS_TABLE_ARN,
      },
      FindConnection: {
        Action: ['dynamodb:Query'],
        Resource: { 'Fn::Join': ['', [CONNECTIONS_TABLE_ARN, '/index/byConnection']] },
      },
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

  it('keeps Idempotency-Keys in a table whose items expire by TTL', () => {
    expect(resources.IdempotencyTable).toMatchObject({
      Type: 'AWS::DynamoDB::Table',
      Properties: {
        TableName: EXAMPLE.idempotencyTable,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      },
    });
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

/**
 * Runs `script` in a fresh node beside a function's packaged bundle, as Lambda runs it: the AWS
 * SDK found on NODE_PATH (the runtime's copy, here the repository's), no AWS credentials, an
 * IAM-auth environment. `script` sees `bundle` (the handler file) and prints one JSON line.
 */
const inPackagedFunction = (zipName: string, script: string, env: Record<string, string> = {}) => {
  const dir = mkdtempSync(join(tmpdir(), `bundle-${zipName}-`));
  try {
    const unzip = run('python3', ['-m', 'zipfile', '-e', join(outDir, `${zipName}.zip`), dir]);
    expect(unzip.code, unzip.stderr).toBe(0);
    const folder = readdirSync(join(dir, 'functions'))[0] ?? '';
    const bundle = join(dir, 'functions', folder, 'handler.cjs');
    const out = run(process.execPath, ['-e', `const bundle=${JSON.stringify(bundle)};${script}`], {
      cwd: dir,
      timeoutMs: 60_000,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_PATH: join(ROOT, 'node_modules'),
        AWS_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        SERVICE_NAME: 'kafka-notifications',
        POWERTOOLS_METRICS_DISABLED: 'true',
        KAFKA_AUTH: 'iam',
        MSK_CLUSTER_ARN: EXAMPLE.clusterArn,
        ...env,
      },
    });
    expect(out.code, out.stderr).toBe(0);
    const last = out.stdout.trim().split('\n').at(-1) ?? '';
    return { result: JSON.parse(last) as Record<string, unknown>, output: out.stdout + out.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Which of `packages` the process has loaded so far, as a JS expression. */
const loaded = (packages: readonly string[]) =>
  `${JSON.stringify(packages)}.filter((p)=>Object.keys(require.cache).some((f)=>f.includes('/node_modules/'+p+'/')))`;

/**
 * What the process has loaded so far from outside the handler file, as a JS expression: the AWS
 * SDK packages (the runtime's copy) and the files of its own beside the handler
 * (`handler.<package>.cjs`, serverless/esbuild-init.cjs).
 */
const outsideHandler = () =>
  `{sdk:[...new Set(Object.keys(require.cache).map((f)=>/\\/node_modules\\/(@aws-sdk\\/[^/]+)\\//.exec(f)?.[1]).filter(Boolean))].sort(),files:Object.keys(require.cache).filter((f)=>f!==bundle&&f.startsWith(require('node:path').dirname(bundle)+'/')).map((f)=>require('node:path').basename(f)).sort()}`;

/** Calls the handler with `event` (JSON text) and prints its status (or `error`) and `what`. */
const invoke = (event: string, what: string) =>
  `require(bundle).handler(${event},{awsRequestId:'bundle-test',getRemainingTimeInMillis:()=>10000}).then((r)=>r?.statusCode??'ok',()=>'error').then((status)=>{process.stdout.write('\\n'+JSON.stringify({status,loaded:${what}})+'\\n');process.exit(0)})`;

const DEFERRED = ['@aws-sdk/client-kafka', '@aws-sdk/client-sts', '@aws-sdk/credential-providers'];

/** The packaged files of a function (`functions/<name>/...` in its zip). */
const zipEntries = (zipName: string): string[] => {
  const listed = run('python3', ['-m', 'zipfile', '-l', join(outDir, `${zipName}.zip`)]);
  expect(listed.code, listed.stderr).toBe(0);
  return listed.stdout
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
};

describe(`the packaged functions (sls package --stage ${STAGE})`, () => {
  it.each([['sendNotification'], ['processNotifications']])(
    '%s loads neither the MSK API client nor the token signer at init',
    (zipName) => {
      const { result } = inPackagedFunction(
        zipName,
        `require(bundle);process.stdout.write(JSON.stringify({loaded:${loaded(DEFERRED)}}))`,
      );
      expect(result.loaded).toEqual([]);
    },
  );

  it('loads the MSK API client from the bundle when it first looks the brokers up', () => {
    const event = readFileSync(join(ROOT, 'events/send-json.json'), 'utf8');
    const { result, output } = inPackagedFunction(
      'sendNotification',
      `require(bundle).handler(${event},{awsRequestId:'bundle-test'}).then((r)=>process.stdout.write('\\n'+JSON.stringify({status:r.statusCode,loaded:${loaded(DEFERRED)}})+'\\n')).then(()=>process.exit(0))`,
      // No credentials here: the lookup fails once the client is loaded, and the request gets
      // its 503 within the send timeout.
      { KAFKA_SEND_TIMEOUT_MS: '1500' },
    );
    expect(result).toEqual({ status: 503, loaded: ['@aws-sdk/client-kafka'] });
    expect(output).not.toMatch(/Cannot find module|ERR_REQUIRE|is not a constructor/);
  });

  it('names the TypeScript file and line in stack traces, reading the source map only then', () => {
    // Every source map the process reads, before and after the first stack is formatted.
    const { result } = inPackagedFunction(
      'processNotifications',
      [
        "const fs=require('node:fs');const read=fs.readFileSync;const maps=[];",
        "fs.readFileSync=function(p,...a){if(String(p).endsWith('.map'))maps.push(require('node:path').basename(String(p)));return read.call(this,p,...a)};",
        `const {handler}=require(bundle);const atInit=[...maps];const filesAtInit=${outsideHandler()}.files;`,
        // Not a Kafka event: the handler throws from the event's decoder.
        "Promise.resolve().then(()=>handler(null,{awsRequestId:'bundle-test',getRemainingTimeInMillis:()=>10000}))",
        '.then(()=>null,(e)=>String(e.stack))',
        `.then((stack)=>{process.stdout.write('\\n'+JSON.stringify({stack,atInit,filesAtInit,after:maps,filesAfter:${outsideHandler()}.files})+'\\n');process.exit(0)})`,
      ].join(''),
    );
    expect(result.atInit).toEqual([]);
    expect(result.filesAtInit).toEqual([]);
    expect(result.stack).toMatch(/^InvalidEventError: not a Kafka event/);
    expect(result.stack).toMatch(/\/shared\/kafka\/codec\.ts:\d+:\d+\)/);
    expect(result.stack).toMatch(/\/functions\/process-notifications\/handler\.ts:\d+:\d+\)/);
    expect(result.after).toContain('handler.cjs.map');
    expect(result.filesAfter).toEqual(['handler.source-map-support.cjs']);
  });

  it('bundles the DynamoDB client where the init uses it: the consumer loads nothing else at init', () => {
    const { result } = inPackagedFunction(
      'processNotifications',
      `require(bundle);process.stdout.write(JSON.stringify(${outsideHandler()}))`,
    );
    expect(result).toEqual({ sdk: [], files: [] });
  });

  it('builds kafkajs and the signer into files of their own that the consumer loads to dead-letter', () => {
    expect(zipEntries('processNotifications')).toEqual(
      expect.arrayContaining([
        'functions/process-notifications/handler.cjs',
        'functions/process-notifications/handler.kafkajs.cjs',
        'functions/process-notifications/handler.aws-msk-iam-sasl-signer-js.cjs',
      ]),
    );
    // Another function's files of its own are not in this zip: only the source map support that
    // every function has.
    expect(zipEntries('listNotifications').filter((f) => /handler\.[^/]+\.cjs$/.test(f))).toEqual([
      'functions/list-notifications/handler.source-map-support.cjs',
    ]);
    const poison = readFileSync(join(ROOT, 'events/msk-poison.json'), 'utf8');
    const { result, output } = inPackagedFunction(
      'processNotifications',
      invoke(poison, outsideHandler()),
      // AWS refuses every connection: storing fails (a passing failure, reported per record), and
      // the dead letters' broker lookup fails once kafkajs is loaded.
      {
        AWS_ACCESS_KEY_ID: 'AKIDBUNDLETEST',
        AWS_SECRET_ACCESS_KEY: 'bundle-test',
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
        AWS_ENDPOINT_URL_KAFKA: 'http://127.0.0.1:9',
        PARTIAL_BATCH_RESPONSE: 'true',
        INBOX_TABLE: EXAMPLE.inboxTable,
      },
    );
    expect(result.loaded).toMatchObject({
      files: expect.arrayContaining(['handler.kafkajs.cjs']),
    });
    expect(output).not.toMatch(/Cannot find module|ERR_REQUIRE|is not a constructor/);
  });

  it("loads the store of Idempotency-Keys (the runtime's DynamoDB client) only for a request with a key", () => {
    const plain = readFileSync(join(ROOT, 'events/send-json.json'), 'utf8');
    const keyed = JSON.parse(plain) as { headers: Record<string, string> };
    keyed.headers['idempotency-key'] = 'bundle-test-key';
    const sdkLoaded = (event: string) =>
      inPackagedFunction(
        'sendNotification',
        invoke(event, `${outsideHandler()}.sdk`),
        // No credentials: the store and the broker lookup fail at once, the request gets a 503.
        {
          KAFKA_SEND_TIMEOUT_MS: '1500',
          AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
          AWS_ENDPOINT_URL_KAFKA: 'http://127.0.0.1:9',
          IDEMPOTENCY_TABLE: EXAMPLE.idempotencyTable,
        },
      ).result;
    expect(
      inPackagedFunction(
        'sendNotification',
        `require(bundle);process.stdout.write(JSON.stringify(${outsideHandler()}))`,
      ).result,
    ).toEqual({ sdk: [], files: [] });
    const withoutKey = sdkLoaded(plain);
    expect(withoutKey.status).toBe(503);
    expect(withoutKey.loaded).not.toContain('@aws-sdk/client-dynamodb');
    expect(sdkLoaded(JSON.stringify(keyed))).toMatchObject({
      status: 503,
      loaded: expect.arrayContaining(['@aws-sdk/client-dynamodb']),
    });
  });
});

/** Variables serverless.yml reads for the local stage: left out so that its defaults show. */
const LOCAL_OVERRIDES = new Set([
  'KAFKA_BROKERS',
  'DYNAMODB_ENDPOINT',
  'INBOX_TABLE',
  'IDEMPOTENCY_TABLE',
  'USERS',
  'DEMO_MODE',
  'POWERTOOLS_METRICS_DISABLED',
]);

/** `sls print --format json` for `stage`, with no AWS credentials and no local overrides. */
const printStage = (stage: string) => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !LOCAL_OVERRIDES.has(k)),
  );
  const out = run(
    join(ROOT, 'node_modules/.bin/sls'),
    ['print', '--stage', stage, '--format', 'json'],
    { cwd: ROOT, env },
  );
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as {
    service: string;
    provider: { environment: Record<string, string> };
    functions: Record<
      string,
      {
        name: string;
        timeout?: number;
        vpc?: unknown;
        events?: { msk?: Record<string, unknown> }[];
      }
    >;
    resources: { extensions: Record<string, { Properties: Record<string, unknown> }> };
  };
};

describe(`sls package --stage ${STAGE} --param demoMode=true`, () => {
  it('refuses to package: demo mode exists on the local stage only', () => {
    const dir = packageDir(STAGE);
    try {
      expect(() =>
        packageStage({ stage: STAGE, outDir: dir, params: { demoMode: 'true' } }),
      ).toThrow(
        /Stage parameter "demoMode": expected "false" on stage "example".*local stage only/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sls package --stage local', () => {
  it('refuses to package: the offline stage has demo mode, local tokens and the local token route', () => {
    const dir = packageDir('local');
    try {
      expect(() => packageStage({ stage: 'local', outDir: dir })).toThrow(
        /Stage "local" runs offline only.*cannot be packaged or deployed/,
      );
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sls print --stage example', () => {
  it('gives the offline emulator the same mapping that AWS gets', () => {
    const service = printStage(STAGE);
    const consumer = service.functions.processNotifications;
    const msk = consumer?.events?.[0]?.msk;
    if (!consumer || !msk) throw new Error('processNotifications has no msk event');
    const mapping = definition.mappingOf({
      serviceName: service.service,
      stage: STAGE,
      region: 'us-east-1',
      functionKey: 'processNotifications',
      functionName: consumer.name,
      functionTimeoutS: consumer.timeout ?? 6,
      index: 0,
      event: { msk },
      logicalId: MAPPING,
      extension: service.resources.extensions[MAPPING],
    });
    expect(mapping).toMatchObject({
      topic: 'notifications',
      groupId: EXAMPLE.consumerGroupId,
      batchSize: 50,
      windowMs: 0,
      startingPosition: 'TRIM_HORIZON',
      errorHandling: {
        provisioned: true,
        maxRetries: 3,
        bisect: true,
        reportBatchItemFailures: true,
        onFailure: { kind: 'kafka', topic: 'notifications.dlq' },
      },
      warnings: [],
    });
  });
});

describe('sls print --stage local', () => {
  it('resolves with no AWS parameter and no AWS credentials, as offline needs', () => {
    const service = printStage('local');
    expect(service.provider.environment).toMatchObject({
      KAFKA_AUTH: 'none',
      KAFKA_BROKERS: '127.0.0.1:9092',
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      // serverless-offline does not verify tokens: the functions do, and the demo's routes are open.
      AUTH_MODE: 'local',
      DEMO_MODE: 'true',
      // EMF lines would drown the console offline, where nothing reads them.
      POWERTOOLS_METRICS_DISABLED: 'true',
      // The names shared/config.ts defaults to, which the local store creates.
      INBOX_TABLE: loadConfig({}).inbox.tableName,
      IDEMPOTENCY_TABLE: loadConfig({}).idempotency.tableName,
    });
    for (const [name, f] of Object.entries(service.functions)) {
      expect(f.vpc ?? null, name).toBeNull();
    }
    const msk = service.functions.processNotifications?.events?.[0]?.msk;
    expect(msk).toMatchObject({ topic: 'notifications', batchSize: 100 });
    expect(Object.values(service.resources.extensions)).toEqual([
      { DependsOn: ['KafkaTopics'], Properties: {} },
      { DependsOn: ['KafkaTopics'], Properties: { MaximumBatchingWindowInSeconds: 0 } },
    ]);
    // The page's sign-in, on this stage only.
    expect(Object.keys(service.functions)).toContain('localToken');
    expect(service.functions.pushNotifications?.events?.[0]?.msk).toMatchObject({
      consumerGroupId: 'kafka-notifications-local-push-notifications',
      startingPosition: 'LATEST',
    });
  });
});
