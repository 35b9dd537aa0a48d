import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { TEMPLATES } from '../../scripts/lib/package.js';
import { EXAMPLE_STAGE } from '../setup/example-package.js';

/**
 * The example stage as the deploy tests read it: serverless.yml's `params.example`, packaged once
 * by tests/setup/example-package.ts, and its template resource by resource.
 */

export const STAGE = EXAMPLE_STAGE;
/** serverless.yml `params.example`. */
export const EXAMPLE = {
  clusterArn:
    'arn:aws:kafka:us-east-1:123456789012:cluster/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
  subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
  securityGroupIds: ['sg-0a1b2c3d4e5f60001'],
  consumerGroupId: 'kafka-notifications-example-process-notifications',
  inboxTable: 'kafka-notifications-example-inbox',
  idempotencyTable: 'kafka-notifications-example-idempotency',
} as const;
export const MAPPING = 'ProcessNotificationsEventSourceMappingMSKNotificationsNotifications';
export const FUNCTIONS = [
  'SendNotification',
  'ProcessNotifications',
  'ListNotifications',
  'ProvisionTopics',
  'Connections',
  'PushNotifications',
  'ReadNotifications',
  'WebPage',
];
/** The pushing consumer's group. */
export const PUSH_GROUP = 'kafka-notifications-example-push-notifications';

export interface Resource {
  Type: string;
  DependsOn?: string[];
  Properties: Record<string, unknown>;
}

/** The folder `sls package --stage example` wrote (zips and templates). */
export const packagedDir = (): string => {
  const { dir, error } = inject('examplePackage');
  if (error) throw new Error(error);
  return dir;
};

let template: Record<string, Resource> | undefined;

/** The resources of the packaged stack's template. */
export const exampleResources = (): Record<string, Resource> => {
  template ??= (
    JSON.parse(readFileSync(join(packagedDir(), TEMPLATES.update), 'utf8')) as {
      Resources: Record<string, Resource>;
    }
  ).Resources;
  return template;
};

export const resource = (id: string): Resource => {
  const found = exampleResources()[id];
  if (!found) throw new Error(`the template has no resource ${id}`);
  return found;
};

/** A function's properties, by its logical name (`SendNotification`). */
export const fn = (name: string) => resource(`${name}LambdaFunction`).Properties;

/** A function's environment variables. */
export const envOf = (name: string) =>
  (fn(name).Environment as { Variables: Record<string, string> }).Variables;
