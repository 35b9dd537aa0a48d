import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, version as esbuildVersion, type Metafile } from 'esbuild';
import { handlerEntry, serverlessEsbuildOptions } from '../scripts/lib/bundle.js';
import { defineFigure, runFigure, say } from './lib/figure.js';
import { fmt, ROOT, type Row, WORK_DIR } from './lib/results.js';
import { summarize } from './lib/stats.js';

/**
 * Cold start: each function bundled as serverless.yml's `custom.esbuild` bundles it (minified
 * CommonJS for node22, the AWS SDK left to the Lambda runtime), its size raw and gzipped, what
 * fills it (esbuild's metafile), and how long requiring it takes in a fresh Node process with
 * the environment it has on AWS (median over fresh processes).
 */

export const GOAL_PRODUCER_KB = 300;
/** The issue's goal for the module init of the producer and the consumer. */
export const GOAL_INIT_MS = 60;
const PRODUCER = 'send-notification';
const CONSUMER = 'process-notifications';
const OUT_DIR = join(WORK_DIR, 'bundles');
const KB = 1024;

/** `custom.esbuild` of serverless.yml, as serverless-esbuild passes it to esbuild. */
const SERVERLESS_ESBUILD: BuildOptions = {
  ...serverlessEsbuildOptions(),
  metafile: true,
  logLevel: 'warning',
};

/** What a function sees on AWS (serverless.yml's provider environment); nothing connects at init. */
const AWS_ENV = {
  NODE_OPTIONS: '--enable-source-maps',
  AWS_REGION: 'us-east-1',
  SERVICE_NAME: 'kafka-notifications',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  KAFKA_AUTH: 'iam',
  MSK_CLUSTER_ARN:
    'arn:aws:kafka:us-east-1:123456789012:cluster/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
  NOTIFICATIONS_TOPIC: 'notifications',
  NOTIFICATIONS_DLQ_TOPIC: 'notifications.dlq',
  INBOX_TABLE: 'kafka-notifications-prod-inbox',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export const functionNames = (): string[] =>
  readdirSync(join(ROOT, 'functions')).filter((name) =>
    statSync(join(ROOT, 'functions', name, 'handler.ts'), { throwIfNoEntry: false })?.isFile(),
  );

/** Bytes in the bundle per package (or per folder of ours), largest first. */
export const bytesByPackage = (metafile: Metafile): [string, number][] => {
  const totals = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? `${path.split('/')[0]}/`;
      totals.set(pkg, (totals.get(pkg) ?? 0) + input.bytesInOutput);
    }
  }
  return [...totals.entries()].sort((a, b) => b[1] - a[1]);
};

const bundle = async (name: string, extra: BuildOptions = {}) => {
  const outfile = join(OUT_DIR, extra.external ? `${name}.variant` : name, 'handler.cjs');
  const result = await build({
    ...SERVERLESS_ESBUILD,
    ...extra,
    entryPoints: [handlerEntry(name)],
    outfile,
  });
  const code = readFileSync(outfile);
  return {
    outfile,
    bytes: code.length,
    gzipBytes: gzipSync(code).length,
    packages: result.metafile ? bytesByPackage(result.metafile) : [],
  };
};

/**
 * What the producer with IAM auth loads on its first connection instead of at init: the MSK API
 * client (broker discovery without KAFKA_BROKERS) and the token signer's SDK packages.
 */
const PRODUCER_DEFERRED = [
  '@aws-sdk/client-kafka',
  '@aws-sdk/client-sts',
  '@aws-sdk/credential-providers',
] as const;

interface Init {
  /** Wall time of `require()`, as Lambda's init duration counts it. */
  readonly wallMs: number;
  /** CPU time of it: what a shared machine's load disturbs least. */
  readonly cpuMs: number;
  /** Wall time of then requiring `deferred` (what the first use loads). */
  readonly deferredMs: number;
}

/** Requiring the bundle in a fresh process, with the function's environment. */
const initOf = (outfile: string, deferred: readonly string[] = []): Init => {
  const script = [
    'const t=process.hrtime.bigint(),c=process.cpuUsage();',
    `require(${JSON.stringify(outfile)});`,
    'const w=Number(process.hrtime.bigint()-t)/1e6,u=process.cpuUsage(c),d=process.hrtime.bigint();',
    `for(const m of ${JSON.stringify(deferred)})require(m);`,
    'process.stdout.write(JSON.stringify({wallMs:w,cpuMs:(u.user+u.system)/1e3,deferredMs:Number(process.hrtime.bigint()-d)/1e6}))',
  ].join('');
  const out = spawnSync(process.execPath, ['-e', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...AWS_ENV },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (out.status !== 0) {
    throw new Error(`requiring ${relative(ROOT, outfile)} failed: ${out.stderr}`);
  }
  return JSON.parse(out.stdout) as Init;
};

/**
 * The packages outside the bundle (the AWS SDK) that requiring it loads, in order: what its
 * init pays for besides its own code. Measured once, in a process of its own (not timed).
 */
const initRequires = (outfile: string): string[] => {
  const script = `const M=require('node:module');const seen=new Set();const load=M._load;M._load=function(r,p){if(p&&p.filename===${JSON.stringify(outfile)}&&!r.startsWith('node:')&&!require('node:module').isBuiltin(r))seen.add(r);return load.apply(this,arguments)};require(${JSON.stringify(outfile)});process.stdout.write(JSON.stringify([...seen]))`;
  const out = spawnSync(process.execPath, ['-e', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...AWS_ENV },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (out.status !== 0)
    throw new Error(`requiring ${relative(ROOT, outfile)} failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as string[];
};

type Bundle = Awaited<ReturnType<typeof bundle>>;

/** Every function bundled as serverless.yml bundles it, and the producer with the signer external. */
const setup = async () => {
  rmSync(OUT_DIR, { recursive: true, force: true });
  const names = functionNames();
  const bundles = new Map<string, Bundle>();
  const requires = new Map<string, string[]>();
  for (const name of names) {
    const b = await bundle(name);
    bundles.set(name, b);
    requires.set(name, initRequires(b.outfile));
    say(
      `cold start: ${name} bundle ${fmt(b.bytes / KB)} KB (gzip ${fmt(b.gzipBytes / KB)} KB); its init requires ${requires.get(name)?.join(', ') || 'nothing outside it'}`,
    );
  }
  const signerExternal = await bundle(PRODUCER, {
    external: ['@aws-sdk/*', 'aws-msk-iam-sasl-signer-js'],
  });
  return { names, bundles, requires, signerExternal, close: async () => undefined };
};

type Bench = Awaited<ReturnType<typeof setup>>;

/** Fresh processes, functions in turn, so that noise hits all of them alike. */
const drive = async ({ names, bundles }: Bench, { runs }: { runs: number }) => {
  const inits = new Map<string, Init[]>(names.map((n) => [n, []]));
  say(`cold start: ${runs} fresh processes per function`);
  for (let run = 0; run < runs; run++) {
    for (const name of names) {
      const b = bundles.get(name);
      if (b) inits.get(name)?.push(initOf(b.outfile, name === PRODUCER ? PRODUCER_DEFERRED : []));
    }
  }
  return inits;
};

const report = (
  inits: Map<string, Init[]>,
  { names, bundles, requires, signerExternal }: Bench,
  { runs }: { runs: number },
) => {
  const rows: Row[] = [];
  for (const name of names) {
    const b = bundles.get(name);
    if (!b) continue;
    const kb = b.bytes / KB;
    const producer = name === PRODUCER;
    rows.push({
      figure: 'cold start',
      metric: `${name} bundle (KB, minified; gzip ${fmt(b.gzipBytes / KB)})`,
      oursLabel: 'serverless.yml custom.esbuild (AWS SDK external)',
      ours: summarize([kb]),
      ...(producer
        ? {
            goal: `<= ${GOAL_PRODUCER_KB} KB`,
            status: kb <= GOAL_PRODUCER_KB ? ('met' as const) : ('missed' as const),
          }
        : { status: 'info' as const }),
    });
  }
  for (const name of names) {
    const init = summarize((inits.get(name) ?? []).map((i) => i.wallMs));
    const goal = name === PRODUCER || name === CONSUMER;
    rows.push({
      figure: 'cold start',
      metric: `${name} module init (ms)`,
      oursLabel: `require() in a fresh node ${process.version}, AWS-like env`,
      ours: init,
      ...(goal
        ? {
            goal: `<= ${GOAL_INIT_MS} ms`,
            status: init.median <= GOAL_INIT_MS ? ('met' as const) : ('missed' as const),
          }
        : { status: 'info' as const }),
    });
  }
  const deferred = summarize((inits.get(PRODUCER) ?? []).map((i) => i.deferredMs));
  rows.push({
    figure: 'cold start',
    metric: `${PRODUCER} first IAM connection's loads (ms)`,
    oursLabel: `then requiring ${PRODUCER_DEFERRED.join(', ')}`,
    ours: deferred,
    status: 'info',
  });
  const cpu = names
    .map((n) => `${n} ${fmt(summarize((inits.get(n) ?? []).map((i) => i.cpuMs)).median)}`)
    .join(', ');
  const top = (bundles.get(PRODUCER)?.packages ?? [])
    .slice(0, 8)
    .map(([pkg, bytes]) => `${pkg} ${fmt(bytes / KB)}`)
    .join(', ');
  return {
    id: 'cold-start',
    title: 'Cold start',
    rows,
    facts: [
      `Bundles built with esbuild ${esbuildVersion} and serverless.yml's options (bundle, minify, sourcemap in a separate file, cjs, node22, external @aws-sdk/*); KB = 1,024 bytes, source maps not counted. Init: median [min-max] over ${runs} fresh processes each, NODE_OPTIONS=--enable-source-maps as serverless.yml sets it, KAFKA_AUTH=iam with a cluster ARN (nothing connects at init); the AWS SDK is required from node_modules, as the runtime's copy would be.`,
      `What fills the ${PRODUCER} bundle (KB): ${top}.`,
      `Init CPU time (median ms; less disturbed than wall time by other load on a shared machine): ${cpu}.`,
      `What each init requires outside its bundle (the AWS SDK, from node_modules): ${names.map((n) => `${n}: ${requires.get(n)?.join(', ') || 'nothing'}`).join('; ')}. The MSK API client (@aws-sdk/client-kafka, for broker discovery) and the IAM token signer are loaded on first use instead (shared/kafka/client.ts): a function given KAFKA_BROKERS never loads the first, and with IAM auth the first connection loads what it needs (the row "first IAM connection's loads": what that costs it then). The consumer loads kafkajs only to dead-letter a poison record; its init is mostly the DynamoDB client, which its first batch needs.`,
      `With aws-msk-iam-sasl-signer-js also external (installed into the zip instead of bundled: a serverless.yml change, not made here), the ${PRODUCER} bundle would be ${fmt(signerExternal.bytes / KB)} KB.`,
    ],
  };
};

export const measureColdStart = defineFigure({
  sizes: ({ quick }) => ({ runs: quick ? 5 : 15 }),
  setup,
  drive,
  report,
});

await runFigure(import.meta.url, measureColdStart);
