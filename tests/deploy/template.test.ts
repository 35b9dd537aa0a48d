import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CFN_LINT_BIN,
  CFN_LINT_INSTALL_HINT,
  formatFindings,
  installedCfnLintVersion,
  lintTemplates,
} from '../../scripts/lib/cfn-lint.js';
import { TEMPLATES } from '../../scripts/lib/package.js';
import {
  EXAMPLE,
  envOf,
  exampleResources,
  FUNCTIONS,
  fn,
  MAPPING,
  PUSH_GROUP,
  packagedDir,
  type Resource,
  resource,
  STAGE,
} from '../helpers/example-package.js';

/**
 * The deployment, proven without an AWS account: `sls package --stage example` (the example
 * parameters of serverless.yml), AWS's cfn-lint on the templates, and the template itself read
 * resource by resource: what runs, where, with which settings, behind which routes. The roles
 * are tests/deploy/iam.test.ts's. Packaging needs no credentials.
 */

/** The pushing consumer's mapping: the same cluster and topic, another function and group. */
const PUSH_MAPPING = 'PushNotificationsEventSourceMappingMSKNotificationsNotifications';
const IN_VPC = ['SendNotification', 'ProcessNotifications', 'ProvisionTopics'];

/** The page's routes: public. */
const PAGE_ROUTES = new Set(['GET /', 'GET /assets/{file}']);

/** Whether a route belongs to the HTTP API (else to the WebSocket API). */
const isHttpApi = (route: Resource): boolean =>
  JSON.stringify(route.Properties.ApiId) === JSON.stringify({ Ref: 'HttpApi' });

let outDir = '';
let resources: Record<string, Resource> = {};

beforeAll(() => {
  outDir = packagedDir();
  resources = exampleResources();
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

  it("maps the same topic to the pushing consumer, in a group of its own, with AWS's low-latency setup (no batching window, provisioned pollers)", () => {
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
      // The example stage's pushPollers: 1.
      ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 1 },
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
      // The directory: behind the authorizer, never in the public page (issue 18, finding 4).
      'GET /users',
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
    // The functions that push, or close sessions, know where: this API's stage.
    for (const name of ['PushNotifications', 'ReadNotifications', 'Connections']) {
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

  it('has no cluster page route and no function behind one on an AWS stage', () => {
    const keys = Object.values(resources)
      .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
      .map((r) => String(r.Properties.RouteKey));
    // The other routes are there: the filter below could find /cluster ones.
    expect(keys).toContain('GET /');
    expect(keys.filter((k) => k.includes('/cluster'))).toEqual([]);
    expect(Object.keys(resources).filter((id) => id.startsWith('ClusterView'))).toEqual([]);
  });

  it('keeps connections in a table with a time to live, found by connection id through an index', () => {
    expect(resource('ConnectionsTable').Properties).toMatchObject({
      TableName: 'kafka-notifications-example-connections',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [expect.objectContaining({ IndexName: 'byConnection' })],
    });
  });

  it('lets only this WebSocket API invoke the WebSocket function, as the HTTP API is scoped to its own (issue 18, finding 7)', () => {
    const permissions = Object.entries(resources).filter(
      ([, r]) => r.Type === 'AWS::Lambda::Permission',
    );
    expect(permissions.length).toBeGreaterThan(0);
    for (const [id, permission] of permissions) {
      if (permission.Properties.Principal !== 'apigateway.amazonaws.com') continue;
      expect(permission.Properties.SourceArn, id).toBeDefined();
    }
    expect(resource('ConnectionsLambdaPermissionWebsockets').Properties.SourceArn).toEqual({
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
          '/*',
        ],
      ],
    });
  });

  it('throttles every route of both APIs, and limits each sender, from the stage parameters (issue 18, finding 2)', () => {
    const throttling = { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 };
    expect(resource('HttpApiStage').Properties.DefaultRouteSettings).toMatchObject(throttling);
    expect(resource('WebsocketsDeploymentStage').Properties.DefaultRouteSettings).toMatchObject(
      throttling,
    );
    expect(envOf('SendNotification')).toMatchObject({
      SEND_RATE_LIMIT: '600',
      SEND_RATE_WINDOW_S: '60',
      AUTH_TOKEN_USE: 'access',
    });
  });

  it('keeps each notification 90 days: the inbox table expires items by TTL (issue 18, finding 2)', () => {
    expect(resource('InboxTable').Properties.TimeToLiveSpecification).toEqual({
      AttributeName: 'expiresAt',
      Enabled: true,
    });
    expect(envOf('ProcessNotifications').INBOX_RETENTION_DAYS).toBe('90');
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
});
