import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unique } from '../helpers/kafka.js';
import { type Offline, startOffline } from '../helpers/offline.js';
import { installScratchProject } from '../helpers/scratch-project.js';
import { brokers, testKafka } from '../helpers/test-broker.js';
import { until } from '../helpers/wait.js';

/**
 * The plugin as a user gets it: `npm pack`, installed into a new serverless project in a
 * temporary folder outside the repository, set up with only what the plugin's README says
 * (its install command and its `plugins`/`custom` block), then `sls offline start` with that
 * project's own framework delivers a record to its function. The project's other dependencies
 * come from npm's cache at the repository's locked versions (the test runs offline); the plugin
 * comes only from the tarball.
 */

const ROOT = join(import.meta.dirname, '../..');
const PLUGIN = join(ROOT, 'plugins/serverless-offline-kafka');
const README = readFileSync(join(PLUGIN, 'README.md'), 'utf8');
const run = promisify(execFile);

/** The README's install command, as `name -> range` (the plugin itself without a range). */
const readmeDependencies = (): Record<string, string> => {
  const command = /npm install --save-dev ([^\n`]+)/.exec(README)?.[1];
  if (!command) throw new Error('the plugin README has no `npm install --save-dev` line');
  return Object.fromEntries(
    command
      .trim()
      .split(/\s+/)
      .map((spec) => {
        const at = spec.lastIndexOf('@');
        return at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, '*'];
      }),
  );
};

/** The README's YAML block that lists the plugin by its package name. */
const readmePluginsBlock = (): string => {
  const block = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1] ?? '')
    .find((yaml) => /^ {2}- serverless-offline-kafka$/m.test(yaml));
  if (!block) throw new Error('the plugin README has no YAML block listing the plugin by name');
  return block;
};

const HANDLER = `'use strict';
const { appendFileSync } = require('node:fs');
exports.handler = async (event) => {
  appendFileSync(process.env.RECORD_FILE, JSON.stringify(event) + '\\n');
};
`;

const OPTIONS_CHECK = `import type { ServerlessOfflineKafkaOptions } from 'serverless-offline-kafka';
export const options: ServerlessOfflineKafkaOptions = { brokers: ['127.0.0.1:9092'], retryMaxDelayMs: 1000 };
`;

describe('serverless-offline-kafka installed from its npm pack tarball', () => {
  const kafka = testKafka('emulator-package-e2e');
  const dir = mkdtempSync(join(tmpdir(), 'emulator-package-'));
  const project = join(dir, 'project');
  const recordFile = join(dir, 'events.jsonl');
  const topic = unique('e2e-package');
  let admin: Admin;
  let producer: Producer;
  let offline: Offline | undefined;

  beforeAll(async () => {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: PLUGIN,
    });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    if (!packed) throw new Error('npm pack printed nothing');
    expect(packed.files.map((f) => f.path).sort()).toEqual(
      expect.arrayContaining(['README.md', 'package.json', 'src/index.d.ts', 'src/index.js']),
    );
    expect(packed.files.some((f) => f.path.startsWith('tests/'))).toBe(false);

    mkdirSync(project);
    const { 'serverless-offline-kafka': _plugin, ...peers } = readmeDependencies();
    // A serverless project has its framework; osls is this repository's.
    await installScratchProject(
      project,
      { serverless: 'npm:osls@^4.3.1', ...peers },
      join(dir, packed.filename),
    );
    writeFileSync(join(project, 'handler.js'), HANDLER);
    writeFileSync(
      join(project, 'serverless.yml'),
      [
        'service: scratch',
        'provider:',
        '  name: aws',
        '  runtime: nodejs22.x',
        '  stage: dev',
        '  environment:',
        `    RECORD_FILE: ${recordFile}`,
        'functions:',
        '  consumer:',
        '    handler: handler.handler',
        '    events:',
        '      - msk:',
        '          arn: arn:aws:kafka:us-east-1:123456789012:cluster/scratch/1',
        `          topic: ${topic}`,
        readmePluginsBlock(),
      ].join('\n'),
    );

    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    producer = kafka.producer();
    await producer.connect();
  });

  afterAll(async () => {
    await offline?.stop();
    await producer?.disconnect();
    await admin?.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs the packed files only, and gives its option types through its exports', async () => {
    const installed = join(project, 'node_modules/serverless-offline-kafka');
    expect(existsSync(join(installed, 'src/records.js'))).toBe(true);
    expect(existsSync(join(installed, 'tests'))).toBe(false);
    writeFileSync(join(project, 'options.ts'), OPTIONS_CHECK);
    await run(
      join(ROOT, 'node_modules/.bin/tsc'),
      [
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        'options.ts',
      ],
      { cwd: project },
    );
  });

  it('delivers a record to the project’s function under its own sls offline start', async () => {
    offline = await startOffline(
      project,
      { KAFKA_BROKERS: brokers().join(',') },
      {
        sls: join(project, 'node_modules/serverless/bin/serverless.js'),
        // Ports of its own, away from `npm start`'s and the other tests'.
        args: ['--httpPort', '4310', '--lambdaPort', '4312'],
        ready: /Kafka consumer: joined group \S+, partitions \[0,1\]/,
      },
    );
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key: 'k', value: 'from the tarball', partition: 1, headers: { x: 'y' } }],
    });
    await until(
      () => existsSync(recordFile) && readFileSync(recordFile, 'utf8').includes('"offset":0'),
      30_000,
      'the record at the function',
    );
    const [event] = readFileSync(recordFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(event.eventSource).toBe('aws:kafka');
    expect(event.records[`${topic}-1`]).toMatchObject([
      {
        topic,
        partition: 1,
        offset: 0,
        value: Buffer.from('from the tarball').toString('base64'),
        headers: [{ x: [121] }],
      },
    ]);
    // The installed copy decodes records itself (it found the project's kafkajs 2.x).
    expect(offline.output()).not.toMatch(/records are decoded by kafkajs itself/);
  });
});
