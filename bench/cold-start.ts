import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, version as esbuildVersion, type Metafile } from 'esbuild';
import {
  deployedFunctionNames,
  handlerEntry,
  serverlessEsbuildOptions,
  serviceNodeOptions,
} from '../scripts/lib/bundle.js';
import { ensureIdempotencyTable, ensureInboxTable } from '../scripts/lib/dynalite.js';
import {
  createTopic,
  deleteTopics,
  kafkaClient,
  localBrokers,
  unique,
} from '../tests/helpers/kafka.js';
import { againstRef, checkoutOf } from './lib/checkout.js';
import { defineFigure, runFigure, say } from './lib/figure.js';
import { fmt, ROOT, type Row, WORK_DIR } from './lib/results.js';
import { pairedRatios, type Summary, summarize } from './lib/stats.js';
import { startStoreProcess } from './lib/store-process.js';

/**
 * Cold start: each function bundled as serverless.yml's `custom.esbuild` bundles it, its size
 * raw and gzipped, what fills it (esbuild's metafile), and the CPU time of requiring it in a
 * fresh Node process with the environment it has on AWS (nothing connects at init). For the
 * producer and the consumer also the CPU time of their first invocation (against the local broker
 * and a dynalite of its own), which pays for what init left to first use.
 *
 * `--against <git ref>` builds the same functions from that commit too (its own serverless.yml
 * options, this checkout's node_modules) and measures both in the same run, in alternating
 * order: ratios against an earlier build. Without it there is no baseline column.
 */

export const GOAL_PRODUCER_KB = 300;
/** The issue's goal for the module init of the producer and the consumer. */
export const GOAL_INIT_MS = 60;
const PRODUCER = 'send-notification';
const CONSUMER = 'process-notifications';
const OUT_DIR = join(WORK_DIR, 'bundles');
const KB = 1024;

/** What a function sees on AWS (serverless.yml's provider environment); nothing connects at init. */
const AWS_ENV = {
  AWS_REGION: 'us-east-1',
  // Lambda gives every function its role's credentials in these variables.
  AWS_ACCESS_KEY_ID: 'ASIAEXAMPLEEXAMPLE00',
  AWS_SECRET_ACCESS_KEY: 'cold-start-benchmark-not-a-secret',
  AWS_SESSION_TOKEN: 'cold-start-benchmark-not-a-token',
  SERVICE_NAME: 'kafka-notifications',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  POWERTOOLS_METRICS_DISABLED: 'false',
  KAFKA_AUTH: 'iam',
  MSK_CLUSTER_ARN:
    'arn:aws:kafka:us-east-1:123456789012:cluster/notifications/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1',
  NOTIFICATIONS_TOPIC: 'notifications',
  NOTIFICATIONS_DLQ_TOPIC: 'notifications.dlq',
  INBOX_TABLE: 'kafka-notifications-prod-inbox',
  IDEMPOTENCY_TABLE: 'kafka-notifications-prod-idempotency',
  CONNECTIONS_TABLE: 'kafka-notifications-prod-connections',
  AUTH_MODE: 'gateway',
  AUTH_USER_ID_CLAIM: 'username',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/** The functions' own variables on AWS (serverless.yml `functions.<name>.environment`). */
const FUNCTION_ENV: Record<string, Record<string, string>> = {
  [CONSUMER]: { PARTIAL_BATCH_RESPONSE: 'true' },
  'push-notifications': {
    WEBSOCKET_ENDPOINT: 'https://0a1b2c3d4e.execute-api.us-east-1.amazonaws.com/prod',
  },
  'read-notifications': {
    WEBSOCKET_ENDPOINT: 'https://0a1b2c3d4e.execute-api.us-east-1.amazonaws.com/prod',
  },
  connections: {
    // It closes sessions (past the user's limit) through @connections.
    WEBSOCKET_ENDPOINT: 'https://0a1b2c3d4e.execute-api.us-east-1.amazonaws.com/prod',
    AUTH_ISSUER: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_0a1b2c3d4',
    AUTH_AUDIENCE: '0a1b2c3d4e5f6g7h8i9j0k1l2m',
    AUTH_SCOPES: 'aws.cognito.signin.user.admin',
    AUTH_JWKS_URL:
      'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_0a1b2c3d4/.well-known/jwks.json',
  },
  'web-page': {
    WEBSOCKET_URL: 'wss://0a1b2c3d4e.execute-api.us-east-1.amazonaws.com/prod',
    PAGE_SIGN_IN: 'cognito',
    PAGE_COGNITO_CLIENT_ID: '0a1b2c3d4e5f6g7h8i9j0k1l2m',
  },
};

/**
 * The first invocation runs against the local broker and a dynalite of its own: the producer
 * with a broker list (no IAM: no broker lookup, no token signing; the row "first IAM connection's
 * loads" is what those add), DynamoDB at the SDK's service endpoint variable, credentials from
 * the environment as Lambda gives them, so that each first call succeeds as on AWS.
 */
interface Services {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly store: string;
  readonly inboxTable: string;
  readonly idempotencyTable: string;
}

const firstCallEnv = (s: Services): Record<string, string> => ({
  KAFKA_AUTH: 'none',
  KAFKA_BROKERS: s.brokers.join(','),
  NOTIFICATIONS_TOPIC: s.topic,
  NOTIFICATIONS_DLQ_TOPIC: `${s.topic}.dlq`,
  AWS_ENDPOINT_URL_DYNAMODB: s.store,
  INBOX_TABLE: s.inboxTable,
  IDEMPOTENCY_TABLE: s.idempotencyTable,
});

/** A function's first invocation: the sample event it gets, and what it is called. */
interface FirstCall {
  readonly label: string;
  readonly event: () => unknown;
}

const sample = (file: string) => JSON.parse(readFileSync(join(ROOT, 'events', file), 'utf8'));

/** The first invocations measured, per function. */
const FIRST_CALLS: Record<string, readonly FirstCall[]> = {
  [PRODUCER]: [
    { label: 'POST /notifications', event: () => sample('send-json.json') },
    {
      label: 'POST /notifications with an Idempotency-Key',
      event: () => {
        const event = sample('send-json.json');
        // A new key each time: a kept one would be answered from the table.
        event.headers['idempotency-key'] = randomUUID();
        return event;
      },
    },
  ],
  [CONSUMER]: [
    { label: 'a batch of notifications', event: () => sample('msk-notifications.json') },
  ],
};

/**
 * What the producer with IAM auth loads on its first connection instead of at init: the MSK API
 * client (broker discovery without KAFKA_BROKERS) and the token signer's SDK packages (the
 * runtime's copy), and the signer's own file beside the handler where the build has one.
 */
const PRODUCER_DEFERRED = [
  '@aws-sdk/client-kafka',
  '@aws-sdk/client-sts',
  '@aws-sdk/credential-providers',
] as const;
const SIGNER_FILE = 'handler.aws-msk-iam-sasl-signer-js.cjs';

/** PRODUCER_DEFERRED, and the signer's file beside `outfile` if there is one. */
const producerDeferred = (outfile: string): string[] => {
  const signer = join(dirname(outfile), SIGNER_FILE);
  return [...PRODUCER_DEFERRED, ...(existsSync(signer) ? [signer] : [])];
};

/** Bytes in the bundle per package (or per folder of ours), largest first. */
export const bytesByPackage = (metafile: Metafile, root = ROOT): [string, number][] => {
  const totals = new Map<string, number>();
  const prefix = relative(ROOT, root);
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const path =
        prefix && input.startsWith(`${prefix}/`) ? input.slice(prefix.length + 1) : input;
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? `${path.split('/')[0]}/`;
      totals.set(pkg, (totals.get(pkg) ?? 0) + bytesInOutput);
    }
  }
  return [...totals.entries()].sort((a, b) => b[1] - a[1]);
};

/** One function bundled from one checkout. */
interface Bundle {
  readonly outfile: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly mapBytes: number;
  readonly packages: [string, number][];
  /** The packages outside the bundle (the AWS SDK, from node_modules) that its init requires. */
  readonly requires: string[];
  /** The files of their own beside the handler (serverless/esbuild-init.cjs), loaded on first use, with their sizes. */
  readonly ownFiles: [string, number][];
}

/** A function's environment on AWS (nothing connects at init). */
const envOf = (name: string, extra: Record<string, string> = {}): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  ...AWS_ENV,
  ...FUNCTION_ENV[name],
  ...extra,
});

/** Runs `script` (CommonJS, sees `bundle`) in a fresh node beside the bundle; its stdout as JSON. */
const probe = <T>(name: string, outfile: string, script: string, env = envOf(name)): T => {
  const out = spawnSync(
    process.execPath,
    ['-e', `const bundle=${JSON.stringify(outfile)};${script}`],
    { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 },
  );
  const last = out.stdout?.trim().split('\n').at(-1) ?? '';
  if (out.status !== 0 || !last.startsWith('{')) {
    throw new Error(`requiring ${relative(ROOT, outfile)} failed: ${out.stderr}`);
  }
  return JSON.parse(last) as T;
};

/**
 * The packages outside the bundle (the AWS SDK) that requiring it loads: what its init pays for
 * besides its own code. Found once, in a process of its own (not timed).
 */
const initRequires = (name: string, outfile: string): string[] =>
  probe<{ seen: string[] }>(
    name,
    outfile,
    "const M=require('node:module');const seen=new Set();const load=M._load;M._load=function(r,p){if(p&&p.filename===bundle&&!M.isBuiltin(r))seen.add(r);return load.apply(this,arguments)};require(bundle);process.stdout.write(JSON.stringify({seen:[...seen]}))",
  ).seen;

const bundle = async (
  root: string,
  name: string,
  outfile: string,
  extra: BuildOptions = {},
): Promise<Bundle> => {
  const options = serverlessEsbuildOptions(root);
  const result = await build({
    ...options,
    ...extra,
    metafile: true,
    logLevel: 'warning',
    entryPoints: [handlerEntry(name, root)],
    outfile,
  });
  const code = readFileSync(outfile);
  const map = `${outfile}.map`;
  return {
    outfile,
    bytes: code.length,
    gzipBytes: gzipSync(code).length,
    mapBytes: existsSync(map) ? readFileSync(map).length : 0,
    packages: result.metafile ? bytesByPackage(result.metafile, root) : [],
    requires: initRequires(name, outfile),
    ownFiles: readdirSync(dirname(outfile))
      .filter((f) => f !== basename(outfile) && f.endsWith('.cjs'))
      .map((f): [string, number] => [f, statSync(join(dirname(outfile), f)).size]),
  };
};

interface Init {
  /** Wall time of `require()`, as Lambda's init duration counts it. */
  readonly wallMs: number;
  /** CPU time of it: what a shared machine's load disturbs least. */
  readonly cpuMs: number;
  /** CPU time of then requiring `deferred` (what the first use loads). */
  readonly deferredMs: number;
}

/** Requiring the bundle in a fresh process, with the function's environment. */
const initOf = (name: string, build: Build, outfile: string, deferred: readonly string[] = []) =>
  probe<Init>(
    name,
    outfile,
    [
      'const t=process.hrtime.bigint(),c=process.cpuUsage();',
      'require(bundle);',
      'const w=Number(process.hrtime.bigint()-t)/1e6,u=process.cpuUsage(c),d=process.cpuUsage();',
      `for(const m of ${JSON.stringify(deferred)})require(m);`,
      'const v=process.cpuUsage(d);',
      'process.stdout.write(JSON.stringify({wallMs:w,cpuMs:(u.user+u.system)/1e3,deferredMs:(v.user+v.system)/1e3}))',
    ].join(''),
    envOf(name, build.env),
  );

interface First {
  /** CPU time of the first invocation, from the call to its answer. */
  readonly cpuMs: number;
  /** Its answer's status code, or `error` when it threw (the consumer's failed batch). */
  readonly outcome: string;
}

/**
 * The first invocation after init, in a fresh process: its CPU time, from the call to its
 * answer, all of it (what init left for later, the first connections, the work).
 */
const firstCallOf = (
  name: string,
  build: Build,
  outfile: string,
  call: FirstCall,
  services: Services,
): First =>
  probe<First>(
    name,
    outfile,
    [
      `const event=${JSON.stringify(call.event())};`,
      'const {handler}=require(bundle);',
      "const context={awsRequestId:'cold-start',getRemainingTimeInMillis:()=>10000};",
      'const c=process.cpuUsage();',
      'const done=(outcome)=>{const u=process.cpuUsage(c);process.stdout.write("\\n"+JSON.stringify({cpuMs:(u.user+u.system)/1e3,outcome})+"\\n");process.exit(0)};',
      "handler(event,context).then((r)=>done(String(r?.statusCode??'ok')),()=>done('error'));",
    ].join(''),
    envOf(name, { ...firstCallEnv(services), ...build.env }),
  );

/** This checkout, or another commit of it extracted beside the bundles (`--against`). */
interface Build {
  readonly label: string;
  readonly bundles: Map<string, Bundle>;
  /** What its serverless.yml adds to every function's environment that matters here. */
  readonly env: Record<string, string>;
}

const buildAll = async (label: string, root: string, names: readonly string[], dir: string) => {
  const bundles = new Map<string, Bundle>();
  for (const name of names) {
    if (!existsSync(handlerEntry(name, root))) continue;
    const b = await bundle(root, name, join(dir, name, 'handler.cjs'));
    bundles.set(name, b);
    say(
      `cold start (${label}): ${name} ${fmt(b.bytes / KB)} KB (gzip ${fmt(b.gzipBytes / KB)} KB, source map ${fmt(b.mapBytes / KB)} KB); its init requires ${b.requires.join(', ') || 'nothing outside it'}`,
    );
  }
  const nodeOptions = serviceNodeOptions(root);
  const env: Record<string, string> = nodeOptions ? { NODE_OPTIONS: nodeOptions } : {};
  return { label, bundles, env };
};

/** Every function bundled as serverless.yml bundles it, from this checkout and `--against`. */
const setup = async () => {
  rmSync(OUT_DIR, { recursive: true, force: true });
  const names = deployedFunctionNames();
  const ours = await buildAll('this checkout', ROOT, names, join(OUT_DIR, 'ours'));
  const ref = againstRef();
  let baseline: Build | undefined;
  if (ref) {
    const { sha, root } = checkoutOf(ref);
    baseline = await buildAll(`${ref} (${sha.slice(0, 7)})`, root, names, join(OUT_DIR, 'against'));
  }
  // What the first invocations talk to.
  const brokers = await localBrokers();
  const admin = kafkaClient(brokers, 'bench-cold-start').admin();
  await admin.connect();
  const topic = await createTopic(admin, { prefix: 'bench-cold-start' });
  const store = await startStoreProcess();
  const services: Services = {
    brokers,
    topic,
    store: store.endpoint,
    inboxTable: unique('bench-cold-start-inbox'),
    idempotencyTable: unique('bench-cold-start-keys'),
  };
  await ensureInboxTable(store.endpoint, services.inboxTable);
  await ensureIdempotencyTable(store.endpoint, services.idempotencyTable);
  return {
    names,
    ours,
    baseline,
    services,
    close: async () => {
      await store.stop();
      await deleteTopics(admin, [topic]);
      await admin.disconnect();
    },
  };
};

type Bench = Awaited<ReturnType<typeof setup>>;

interface Samples {
  readonly init: Init[];
  readonly first: Map<string, First[]>;
}

const measureBuild = (
  build: Build,
  name: string,
  samples: Map<string, Samples>,
  services: Services,
) => {
  const b = build.bundles.get(name);
  if (!b) return;
  let s = samples.get(name);
  if (!s) {
    s = { init: [], first: new Map() };
    samples.set(name, s);
  }
  s.init.push(initOf(name, build, b.outfile, name === PRODUCER ? producerDeferred(b.outfile) : []));
  for (const call of FIRST_CALLS[name] ?? []) {
    const list = s.first.get(call.label) ?? [];
    list.push(firstCallOf(name, build, b.outfile, call, services));
    s.first.set(call.label, list);
  }
};

/** Fresh processes, functions in turn and the two builds in alternating order, so that noise hits all alike. */
const drive = async ({ names, ours, baseline, services }: Bench, { runs }: { runs: number }) => {
  const samples = { ours: new Map<string, Samples>(), baseline: new Map<string, Samples>() };
  say(`cold start: ${runs} fresh processes per function${baseline ? ' and build' : ''}`);
  for (let run = 0; run < runs; run++) {
    for (const name of names) {
      const order =
        run % 2 === 0 ? (['ours', 'baseline'] as const) : (['baseline', 'ours'] as const);
      for (const which of order) {
        const build = which === 'ours' ? ours : baseline;
        if (build) measureBuild(build, name, samples[which], services);
      }
    }
  }
  return samples;
};

type Driven = Awaited<ReturnType<typeof drive>>;

/** A row of ours against the baseline build when there is one. */
const row = (
  {
    ours: oursValues,
    baseline: baselineValues = [],
    status = 'info',
    ...rest
  }: Omit<Row, 'ours' | 'baseline' | 'ratio' | 'ratioSpread' | 'status'> & {
    ours: readonly number[];
    baseline?: readonly number[];
    status?: Row['status'];
  },
  baselineLabel: string | undefined,
): Row => {
  const ours = summarize(oursValues);
  if (baselineValues.length === 0 || !baselineLabel) return { ...rest, ours, status };
  const baseline: Summary = summarize(baselineValues);
  const perRound = summarize(pairedRatios(oursValues, baselineValues));
  return {
    ...rest,
    ours,
    baselineLabel,
    baseline,
    ratio: ours.median / baseline.median,
    ratioSpread: { min: perRound.min, max: perRound.max },
    status,
  };
};

const FIGURE = 'cold start';
const OURS_LABEL = 'this checkout';

/** The CPU times of `name`'s inits in one build's samples. */
const initCpuOf = (which: Map<string, Samples>, name: string) =>
  (which.get(name)?.init ?? []).map((i) => i.cpuMs);

/** Each function's bundle size, against the baseline build's; the producer's against its goal. */
const bundleRows = ({ names, ours, baseline }: Bench): Row[] =>
  names.flatMap((name) => {
    const b = ours.bundles.get(name);
    if (!b) return [];
    const kb = b.bytes / KB;
    const old = baseline?.bundles.get(name);
    return [
      row(
        {
          figure: FIGURE,
          metric: `${name} bundle (KB, minified; gzip ${fmt(b.gzipBytes / KB)}${old ? ` vs ${fmt(old.gzipBytes / KB)}` : ''})`,
          oursLabel: OURS_LABEL,
          ours: [kb],
          ...(old ? { baseline: [old.bytes / KB] } : {}),
          ...(name === PRODUCER
            ? {
                goal: `<= ${GOAL_PRODUCER_KB} KB`,
                status: kb <= GOAL_PRODUCER_KB ? ('met' as const) : ('missed' as const),
              }
            : {}),
        },
        baseline?.label,
      ),
    ];
  });

/** Each function's module init in CPU time; the producer's and the consumer's against the goal. */
const initRows = (samples: Driven, { names, baseline }: Bench): Row[] =>
  names.flatMap((name) => {
    const cpu = initCpuOf(samples.ours, name);
    if (cpu.length === 0) return [];
    const goal = name === PRODUCER || name === CONSUMER;
    const typical = summarize(cpu).median;
    return [
      row(
        {
          figure: FIGURE,
          metric: `${name} module init (CPU ms${goal ? '; goal on the median' : ''})`,
          oursLabel: OURS_LABEL,
          ours: cpu,
          baseline: initCpuOf(samples.baseline, name),
          ...(goal
            ? {
                goal: `median <= ${GOAL_INIT_MS} ms`,
                status: typical <= GOAL_INIT_MS ? ('met' as const) : ('missed' as const),
              }
            : {}),
        },
        baseline?.label,
      ),
    ];
  });

/** The first invocations' CPU time, and what the producer's first IAM connection loads. */
const firstUseRows = (samples: Driven, { names, baseline }: Bench): Row[] => {
  const calls = names.flatMap((name) =>
    (FIRST_CALLS[name] ?? []).map((call) => {
      const firstOf = (which: Map<string, Samples>) => which.get(name)?.first.get(call.label) ?? [];
      return row(
        {
          figure: FIGURE,
          metric: `${name} first invocation, ${call.label} (CPU ms)`,
          oursLabel: OURS_LABEL,
          ours: firstOf(samples.ours).map((f) => f.cpuMs),
          baseline: firstOf(samples.baseline).map((f) => f.cpuMs),
        },
        baseline?.label,
      );
    }),
  );
  const deferredOf = (which: Map<string, Samples>) =>
    (which.get(PRODUCER)?.init ?? []).map((i) => i.deferredMs);
  const deferred = row(
    {
      figure: FIGURE,
      metric: `${PRODUCER} first IAM connection's loads (CPU ms)`,
      oursLabel: `then requiring ${PRODUCER_DEFERRED.join(', ')} and the signer`,
      ours: deferredOf(samples.ours),
      baseline: deferredOf(samples.baseline),
    },
    baseline?.label,
  );
  return [...calls, deferred];
};

/** The conditions of the figure, and what the rows leave out (wall times, what fills a bundle). */
const facts = (samples: Driven, { names, ours, baseline }: Bench, runs: number): string[] => {
  const wall = (which: Map<string, Samples>) =>
    names
      .filter((n) => which.has(n))
      .map((n) => `${n} ${fmt(summarize((which.get(n)?.init ?? []).map((i) => i.wallMs)).median)}`)
      .join(', ');
  const outcomes = (which: Map<string, Samples>) =>
    [...which.entries()]
      .flatMap(([n, s]) =>
        [...s.first.entries()].map(
          ([label, list]) => `${n} ${label}: ${[...new Set(list.map((f) => f.outcome))].join('/')}`,
        ),
      )
      .join('; ');
  const top = (b: Bundle | undefined) =>
    (b?.packages ?? [])
      .slice(0, 8)
      .map(([pkg, bytes]) => `${pkg} ${fmt(bytes / KB)}`)
      .join(', ');
  const maps = names
    .map((n) => `${n} ${fmt((ours.bundles.get(n)?.mapBytes ?? 0) / KB)}`)
    .join(', ');
  return [
    `Bundles built with esbuild ${esbuildVersion} and serverless.yml's \`custom.esbuild\` options (scripts/lib/bundle.ts reads them as serverless-esbuild does); KB = 1,024 bytes, source maps not counted (their sizes, KB: ${maps}). The functions an AWS stage deploys (not the local stage's own).`,
    `Init: CPU time (user + system) of \`require()\` of the bundle in a fresh node ${process.version} process, median [min-max] over ${runs} processes per function${baseline ? ' and build, the two builds in alternating order' : ''}; the goal is on the median (a cold start is a typical one, not the luckiest of twenty). Environment as on AWS: NODE_OPTIONS as each build's serverless.yml sets it, KAFKA_AUTH=iam with a cluster ARN, the stage's variables; what is outside the handler file (the AWS SDK clients a function loads on first use) is required from node_modules, as Lambda's runtime requires its own copy.`,
    `Wall time of init (median ms; Lambda's init duration, but two to three times the CPU time on a loaded machine): ours ${wall(samples.ours)}${baseline ? `; ${baseline.label} ${wall(samples.baseline)}` : ''}.`,
    `First invocation: CPU time from the call to its answer, in a fresh process right after init, with the sample events (events/send-json.json, with and without an Idempotency-Key, a new key each time; events/msk-notifications.json), against the local broker (a broker list, no IAM) and dynalite in a process of its own (the SDK's AWS_ENDPOINT_URL_DYNAMODB, credentials from the environment as Lambda gives them); outcomes: ${outcomes(samples.ours)}. It includes what init left for first use, the first connections and the request's own work.`,
    `What fills the ${PRODUCER} bundle (KB): ${top(ours.bundles.get(PRODUCER))}${baseline ? `; in ${baseline.label}: ${top(baseline.bundles.get(PRODUCER))}` : ''}. ${CONSUMER}: ${top(ours.bundles.get(CONSUMER))}.`,
    `Files of their own beside the handler, loaded on first use (serverless/esbuild-init.cjs), KB: ${
      names
        .flatMap((n) =>
          (ours.bundles.get(n)?.ownFiles ?? []).map(([f, bytes]) => `${n} ${f} ${fmt(bytes / KB)}`),
        )
        .join(', ') || 'none'
    }.`,
    `What each init requires outside its bundle (from node_modules): ${names.map((n) => `${n}: ${ours.bundles.get(n)?.requires.join(', ') || 'nothing'}`).join('; ')}. The MSK API client (@aws-sdk/client-kafka, for broker discovery) and the IAM token signer are loaded on first use (shared/kafka/client.ts): a function given KAFKA_BROKERS never loads the first, and with IAM auth the first connection loads what it needs (the row "first IAM connection's loads").`,
  ];
};

/** The rows in the report's order: sizes, inits, first uses; then the facts. */
const report = (samples: Driven, bench: Bench, { runs }: { runs: number }) => ({
  id: 'cold-start',
  title: 'Cold start',
  rows: [...bundleRows(bench), ...initRows(samples, bench), ...firstUseRows(samples, bench)],
  facts: facts(samples, bench, runs),
});

export const measureColdStart = defineFigure({
  sizes: ({ quick }) => ({ runs: quick ? 5 : 20 }),
  setup,
  drive,
  report,
});

await runFigure(import.meta.url, measureColdStart);
