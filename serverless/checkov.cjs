// @ts-check
'use strict';

/**
 * What checkov (the infrastructure-as-code scanner the deploy tests run on the packaged template:
 * tests/deploy/checkov.test.ts) flags that this stack does on purpose, suppressed on the resource
 * itself (`Metadata.checkov.skip`, which checkov reads) with the reason, as `resources.extensions`
 * (serverless/extensions.cjs). What it flags that should change was changed instead: the
 * deployment bucket blocks public access and keeps versions (serverless.yml
 * `provider.deploymentBucket`), the inbox has point-in-time recovery
 * (serverless/resources/inbox-table.json).
 */

/** The functions of an AWS stage, by the framework's normalized names. */
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
/** Those that run in the cluster's VPC (the Kafka clients); the others need no VPC. */
const IN_VPC = new Set(['SendNotification', 'ProcessNotifications', 'ProvisionTopics']);
/** Roles that manage the network interfaces of a VPC function or of an MSK event source mapping. */
const ENI_ROLES = [
  'SendNotificationRole',
  'ProcessNotificationsRole',
  'ProvisionTopicsRole',
  'PushNotificationsRole',
];

const REASONS = {
  CKV_AWS_116:
    'No asynchronous invocation: API Gateway invokes synchronously, and the Kafka event source mappings have their own on-failure destination (the dead-letter topic); a Lambda DLQ would never receive anything.',
  CKV_AWS_115:
    "Load is bounded before the functions: API Gateway throttles every route (apiThrottleRate, apiThrottleBurst) and each sender has a limit; reserved concurrency is a per-stage choice (a function's reservedConcurrency), which would fail deploys on accounts with little unreserved concurrency.",
  CKV_AWS_173:
    'The environment holds no secret (table and topic names, URLs, limits); Lambda encrypts it at rest with an AWS managed key.',
  CKV_AWS_117:
    "This function talks only to DynamoDB and API Gateway over their public AWS endpoints; only the Kafka clients run in the cluster's VPC (a VPC here would need a NAT gateway or endpoints, and adds cold-start time).",
  CKV_AWS_158:
    'CloudWatch Logs encrypts log groups at rest with its own keys; no token or secret is ever logged (shared/logger.ts), so a customer managed key would add cost and key management for nothing.',
  CKV_AWS_95:
    "Every function logs each request with its request id and caller; API Gateway's access logs (and, for the WebSocket API, the account-wide CloudWatch role they need) are a per-stage choice (provider.logs).",
  CKV_AWS_119:
    'DynamoDB encrypts every table at rest with an AWS owned key; a customer managed key adds cost and key management, for data the stack already scopes to each function by IAM.',
  CKV_AWS_28_SHORT:
    'Its items are short-lived (expired by time to live within hours): there is nothing a point-in-time restore would bring back.',
  CKV_AWS_111:
    'The only statements without a resource are the EC2 network-interface actions a VPC function or an MSK event source mapping needs, which support no resource-level permissions; every DynamoDB, Kafka and API Gateway action names its resources (tests/deploy/iam.test.ts).',
  CKV_AWS_18:
    'The deployment bucket holds only the packaged functions and templates the framework uploads at deploy; its access is by the deploying role only, public access blocked and versions kept.',
};

/** @param {string} id @param {string} [reason] */
const skip = (id, reason = REASONS[/** @type {keyof typeof REASONS} */ (id)]) => ({
  id,
  comment: reason,
});

/**
 * `Metadata` extensions keyed by logical id.
 * @returns {Record<string, { Metadata: { checkov: { skip: { id: string, comment: string }[] } } }>}
 */
const suppressions = () => {
  /** @type {Record<string, { id: string, comment: string }[]>} */
  const byResource = {
    ServerlessDeploymentBucket: [skip('CKV_AWS_18')],
    HttpApiStage: [skip('CKV_AWS_95')],
    WebsocketsDeploymentStage: [skip('CKV_AWS_95')],
    InboxTable: [skip('CKV_AWS_119')],
    IdempotencyTable: [skip('CKV_AWS_119'), skip('CKV_AWS_28', REASONS.CKV_AWS_28_SHORT)],
    ConnectionsTable: [skip('CKV_AWS_119'), skip('CKV_AWS_28', REASONS.CKV_AWS_28_SHORT)],
  };
  for (const fn of FUNCTIONS) {
    byResource[`${fn}LambdaFunction`] = [
      skip('CKV_AWS_116'),
      skip('CKV_AWS_115'),
      skip('CKV_AWS_173'),
      ...(IN_VPC.has(fn) ? [] : [skip('CKV_AWS_117')]),
    ];
    byResource[`${fn}LogGroup`] = [skip('CKV_AWS_158')];
  }
  for (const role of ENI_ROLES) byResource[role] = [skip('CKV_AWS_111')];
  return Object.fromEntries(
    Object.entries(byResource).map(([id, checks]) => [
      id,
      { Metadata: { checkov: { skip: checks } } },
    ]),
  );
};

module.exports = { FUNCTIONS, suppressions };
