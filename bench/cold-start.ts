import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, version as esbuildVersion, type Metafile } from 'esbuild';
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
const PRODUCER = 'send-notification';
const OUT_DIR = join(WORK_DIR, 'bundles');
const KB = 1024;

/** `custom.esbuild` of serverless.yml, as serverless-esbuild passes it to esbuild. */
export const SERVERLESS_ESBUILD: BuildOptions = {
  bundle: true,
  minify: true,
  sourcemap: true,
  target: 'node22',
  platform: 'node',
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  external: ['@aws-sdk/*'],
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
    entryPoints: [join(ROOT, 'functions', name, 'handler.ts')],
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

/** Milliseconds to `require` the bundle in a fresh process, with the function's environment. */
const initMs = (outfile: string): number => {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(outfile)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
  const out = spawnSync(process.execPath, ['-e', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...AWS_ENV },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const ms = Number(out.stdout);
  if (out.status !== 0 || !Number.isFinite(ms)) {
    throw new Error(`requiring ${relative(ROOT, outfile)} failed: ${out.stderr}`);
  }
  return ms;
};

type Bundle = Awaited<ReturnType<typeof bundle>>;

/** Every function bundled as serverless.yml bundles it, and the producer with the signer external. */
const setup = async () => {
  rmSync(OUT_DIR, { recursive: true, force: true });
  const names = functionNames();
  const bundles = new Map<string, Bundle>();
  for (const name of names) bundles.set(name, await bundle(name));
  const signerExternal = await bundle(PRODUCER, {
    external: ['@aws-sdk/*', 'aws-msk-iam-sasl-signer-js'],
  });
  return { names, bundles, signerExternal, close: async () => undefined };
};

type Bench = Awaited<ReturnType<typeof setup>>;

/** Fresh processes, functions in turn, so that noise hits all of them alike. */
const drive = async ({ names, bundles }: Bench, { runs }: { runs: number }) => {
  const inits = new Map<string, number[]>(names.map((n) => [n, []]));
  say(`cold start: ${runs} fresh processes per function`);
  for (let run = 0; run < runs; run++) {
    for (const name of names) {
      const b = bundles.get(name);
      if (b) inits.get(name)?.push(initMs(b.outfile));
    }
  }
  return inits;
};

const report = (
  inits: Map<string, number[]>,
  { names, bundles, signerExternal }: Bench,
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
    rows.push({
      figure: 'cold start',
      metric: `${name} module init (ms)`,
      oursLabel: `require() in a fresh node ${process.version}, AWS-like env`,
      ours: summarize(inits.get(name) ?? []),
      status: 'info',
    });
  }
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
