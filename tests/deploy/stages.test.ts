import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import definition from '../../plugins/serverless-offline-kafka/src/definition.js';
import { packageDir, packageStage } from '../../scripts/lib/package.js';
import { ROOT } from '../../scripts/lib/paths.js';
import { run } from '../../scripts/lib/process.js';
import { loadConfig } from '../../shared/config.js';
import { EXAMPLE, MAPPING, STAGE } from '../helpers/example-package.js';

/**
 * The stages as the framework resolves them: the local stage and demo mode refused at packaging,
 * the offline emulator given the same mapping as AWS, the local stage resolved without AWS.
 */

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
        environment?: Record<string, string>;
        events?: { msk?: Record<string, unknown> }[];
      }
    >;
    resources: { extensions: Record<string, { Properties: Record<string, unknown> }> };
    custom: Record<string, Record<string, unknown>>;
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
    // The two mappings' extensions (the others: the stages' throttling, the WebSocket
    // permission's source, checkov's suppressions, the same on every stage).
    expect(
      Object.values(service.resources.extensions).filter((e) => 'DependsOn' in (e as object)),
    ).toEqual([
      { DependsOn: ['KafkaTopics'], Properties: {} },
      { DependsOn: ['KafkaTopics'], Properties: { MaximumBatchingWindowInSeconds: 0 } },
    ]);
    // The page's sign-in, on this stage only.
    expect(Object.keys(service.functions)).toContain('localToken');
    // The cluster page, on this stage only, told where the Kafka emulator serves its state.
    expect(service.functions.clusterView?.environment).toEqual({
      KAFKA_STATE_URL: 'http://127.0.0.1:3003/state',
    });
    expect(service.custom['serverless-offline-kafka']).toMatchObject({ statePort: 3003 });
    expect(service.functions.pushNotifications?.events?.[0]?.msk).toMatchObject({
      consumerGroupId: 'kafka-notifications-local-push-notifications',
      startingPosition: 'LATEST',
    });
  });
});
