import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, unique } from '../helpers/kafka.js';
import { type Offline, startOffline } from '../helpers/offline.js';
import { brokers, testKafka } from '../helpers/test-broker.js';
import { until } from '../helpers/wait.js';

/**
 * The emulator follows esbuild rebuilds: after a handler changes under `sls offline start`, the
 * next Kafka invocation runs the new code. The service is written to a git-ignored folder beside
 * the other fixtures (so that plugins and node_modules resolve the same way), then removed.
 */

const SERVICE = join(import.meta.dirname, `../fixtures/.reload-${process.pid}`);

const serverlessYml = `service: reload-fixture
plugins:
  localPath: ../../../plugins
  modules:
    - serverless-esbuild
    - serverless-offline-kafka
    - serverless-offline
provider:
  name: aws
  runtime: nodejs22.x
  stage: test
  environment:
    RECORD_FILE: \${env:RECORD_FILE}
custom:
  esbuild:
    bundle: true
    format: cjs
    outputFileExtension: .cjs
    platform: node
  serverless-offline:
    httpPort: 4200
    lambdaPort: 4202
  serverless-offline-kafka:
    brokers: \${env:KAFKA_BROKERS}
functions:
  record:
    handler: handler.handler
    events:
      - msk:
          arn: arn:aws:kafka:us-east-1:123456789012:cluster/reload/1
          topic: \${env:TOPIC}
          consumerGroupId: \${env:TOPIC}-group
`;

const handlerSource = (version: string) => `import { appendFileSync } from 'node:fs';
export const handler = async () => {
  appendFileSync(process.env.RECORD_FILE ?? '', '${version}\\n');
};
`;

describe('serverless-offline-kafka after an esbuild rebuild', () => {
  const kafka = testKafka('reload-e2e');
  const recordFile = join(SERVICE, 'versions.txt');
  let admin: Admin;
  let producer: Producer;
  let offline: Offline;
  let topic: string;

  const versions = () =>
    existsSync(recordFile) ? readFileSync(recordFile, 'utf8').split('\n').filter(Boolean) : [];
  const produce = () => producer.send({ topic, acks: -1, messages: [{ value: unique('record') }] });

  beforeAll(async () => {
    mkdirSync(SERVICE, { recursive: true });
    writeFileSync(join(SERVICE, 'serverless.yml'), serverlessYml);
    writeFileSync(join(SERVICE, 'handler.ts'), handlerSource('first'));
    admin = kafka.admin();
    await admin.connect();
    topic = await createTopic(admin, { partitions: 1, prefix: 'e2e-reload' });
    producer = kafka.producer();
    await producer.connect();
    offline = await startOffline(
      SERVICE,
      { RECORD_FILE: recordFile, TOPIC: topic, KAFKA_BROKERS: brokers().join(',') },
      { ready: /Kafka record: joined group/ },
    );
  });

  afterAll(async () => {
    await offline?.stop();
    await producer?.disconnect();
    await admin?.disconnect();
    rmSync(SERVICE, { recursive: true, force: true });
  });

  it('runs the new code for the next batch', async () => {
    await produce();
    await until(() => versions().length === 1, 20_000, 'the first invocation');
    writeFileSync(join(SERVICE, 'handler.ts'), handlerSource('second'));
    // The rebuild takes a moment and prints nothing: send records until one runs the new code.
    await until(
      async () => {
        const before = versions().length;
        await produce();
        await until(() => versions().length > before, 10_000, 'an invocation');
        return versions().at(-1) === 'second';
      },
      30_000,
      'an invocation running the rebuilt handler',
      200,
    );
    expect(versions()[0]).toBe('first');
    // Once the new code runs, the old never comes back.
    await produce();
    await until(
      () => versions().filter((v) => v === 'second').length >= 2,
      10_000,
      'another invocation',
    );
    expect(versions().slice(versions().indexOf('second'))).not.toContain('first');
  });
});
