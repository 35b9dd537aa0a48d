import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/paths.js';
import { run } from '../../scripts/lib/process.js';
import { EXAMPLE, packagedDir, STAGE } from '../helpers/example-package.js';

/**
 * The functions as `sls package --stage example` zipped them, run in a fresh node as Lambda runs
 * them: what their init loads, what their first use loads, and what their stack traces name.
 */

let outDir = '';

beforeAll(() => {
  outDir = packagedDir();
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
      // its 503 within the send timeout. (The per-sender limit, off here, would first try the
      // counters' table, and let the request through when it fails.)
      { KAFKA_SEND_TIMEOUT_MS: '1500', SEND_RATE_LIMIT: '0' },
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
        // The per-sender limit is off: its counters share the Idempotency-Keys' table, and it
        // loads the DynamoDB client on a request's first use (tests/integration/send-rate.test.ts).
        {
          KAFKA_SEND_TIMEOUT_MS: '1500',
          SEND_RATE_LIMIT: '0',
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
