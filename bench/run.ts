import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { KAFKA_VERSION } from '../scripts/lib/broker.js';
import { renderChart } from './lib/chart.js';
import { againstRef } from './lib/checkout.js';
import { parseOptions, say } from './lib/figure.js';
import {
  type FigureResult,
  markdownTable,
  RESULTS_DIR,
  ROOT,
  readResult,
  resultPath,
  textTable,
  WORK_DIR,
} from './lib/results.js';

/**
 * Runs every benchmark, each in its own process (one after another, never two at once), then
 * writes the report: `docs/benchmarks.md` with the table, the conditions, the commands and the
 * notes of bench/NOTES.md, and the chart `docs/benchmarks.svg`. With `--quick` (a smoke test
 * for CI) the report goes to `.local/bench/report/` instead, leaving the published one alone.
 */

/** The figures in the report's order. */
export const FIGURES = [
  'ceiling',
  'producer-latency',
  'producer-latency-network',
  'batch-throughput',
  'consumer-cost',
  'emulator-throughput',
  'emulator-secured',
  'registry-throughput',
  'e2e-latency',
  'cold-start',
  'auth-cost',
  'push-latency',
  'latency-budget',
  'abuse',
] as const;

/**
 * The order they run in: the end-to-end run (at the edge of what two cores do) before the ones
 * that write hundreds of megabytes, whose deleted topics the broker removes a minute later
 * (`file.delete.delay.ms`), and the ceiling last.
 */
const RUN_ORDER: readonly (typeof FIGURES)[number][] = [
  'producer-latency',
  'producer-latency-network',
  'batch-throughput',
  'consumer-cost',
  'e2e-latency',
  'push-latency',
  'latency-budget',
  'abuse',
  'auth-cost',
  'emulator-throughput',
  'emulator-secured',
  'registry-throughput',
  'cold-start',
  'ceiling',
];

const NOTES = join(ROOT, 'bench/NOTES.md');

interface Outcome {
  readonly id: string;
  readonly code: number;
  readonly seconds: number;
}

/** The figures that measure another commit beside this checkout with `--against <ref>`. */
const AGAINST_FIGURES = new Set(['cold-start', 'latency-budget']);

const runScript = (id: string, quick: boolean): Promise<Outcome> =>
  new Promise((resolve) => {
    const start = Date.now();
    say(`running bench/${id}.ts${quick ? ' --quick' : ''}`);
    // Our functions log to stdout, as Lambda captures it: /dev/null here (see bench/lib/figure.ts).
    const child = spawn(
      process.execPath,
      [
        ...process.execArgv,
        join(ROOT, 'bench', `${id}.ts`),
        ...(quick ? ['--quick'] : []),
        ...(againstRef() && AGAINST_FIGURES.has(id) ? ['--against', againstRef() ?? ''] : []),
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'inherit'],
        env: {
          ...process.env,
          BENCH_STDOUT: 'devnull',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
      },
    );
    child.on('exit', (code, signal) =>
      resolve({ id, code: code ?? (signal ? 1 : 0), seconds: (Date.now() - start) / 1000 }),
    );
  });

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly name: string;
  readonly ticks: number;
}

/** Every process's parent and CPU ticks so far (Linux /proc; nothing elsewhere). */
const procStats = (): Map<number, ProcStat> => {
  const out = new Map<number, ProcStat>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      out.set(Number(pid), { pid: Number(pid), ppid: Number(fields[1]), name, ticks });
    } catch {
      // gone meanwhile
    }
  }
  return out;
};

/**
 * Processes other than this run's own (and the broker's, which every figure uses) that used at
 * least 5% of a core over one second: tells whether someone else was using the machine.
 */
const otherLoad = async (): Promise<{ name: string; pct: number }[]> => {
  const first = procStats();
  await new Promise((r) => setTimeout(r, 1_000));
  const second = procStats();
  const ours = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of second.values()) {
      if (!ours.has(p.pid) && ours.has(p.ppid)) {
        ours.add(p.pid);
        grew = true;
      }
    }
  }
  return [...second.values()]
    .filter((p) => !ours.has(p.pid) && p.name !== 'java')
    .map((p) => ({ name: p.name, pct: p.ticks - (first.get(p.pid)?.ticks ?? p.ticks) }))
    .filter((p) => p.pct >= 5)
    .sort((a, b) => b.pct - a.pct);
};

const versionOf = (pkg: string): string =>
  (
    JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

const machine = () => ({
  cores: availableParallelism(),
  model: cpus()[0]?.model ?? 'unknown CPU',
  memoryGb: Math.round(totalmem() / 2 ** 30),
  load: loadavg()
    .map((l) => l.toFixed(2))
    .join(', '),
});

const report = (
  results: readonly FigureResult[],
  outcomes: readonly Outcome[],
  context: {
    quick: boolean;
    started: Date;
    totalSeconds: number;
    before: ReturnType<typeof machine>;
    after: ReturnType<typeof machine>;
    others: readonly string[];
    chartFile: string;
  },
): string => {
  const { quick, started, before, after, others } = context;
  const rows = results.flatMap((r) => r.rows);
  const failed = outcomes.filter((o) => o.code !== 0);
  const notes = existsSync(NOTES) ? readFileSync(NOTES, 'utf8').trim() : '';
  const lines = [
    '# Benchmarks',
    '',
    '<!-- Generated by bench/run.ts from the results of each bench/*.ts; the notes come from bench/NOTES.md. Edit those, not this file. -->',
    '',
    `Measured ${started.toISOString().replace('T', ' ').slice(0, 16)} UTC${quick ? ' with `--quick` (smoke-test sizes: not figures to quote)' : ''}, on the local broker, each of our paths beside its baseline in the same run, in alternating rounds. Medians, with the min-max over rounds in brackets; ratios are ours / baseline (median over median; brackets: the per-round ratios). Goals are those of the issue; timings are never asserted in tests.`,
    '',
    `Machine: ${before.cores} cores (\`nproc\`), ${before.model}, ${before.memoryGb} GB. Load average ${before.load} before, ${after.load} after. Other processes (not this run's, not the broker) using 5% of a core or more in 1-s samples before, between and after the figures: ${others.length ? others.join(', ') : 'none'}.`,
    '',
    `Software: Node ${process.version}, Apache Kafka ${KAFKA_VERSION} (KRaft, one broker), kafkajs ${versionOf('kafkajs')}, esbuild ${versionOf('esbuild')}, serverless-offline ${versionOf('serverless-offline')}.`,
    '',
    `![Ratios of our paths to their baselines, and end-to-end latency](${context.chartFile})`,
    '',
    '## Results',
    '',
    markdownTable(rows),
    '',
    ...(failed.length
      ? [
          `**Not measured:** ${failed.map((f) => `bench/${f.id}.ts (exit ${f.code})`).join(', ')}.`,
          '',
        ]
      : []),
    '## Conditions',
    '',
    ...results.flatMap((r) => [
      `**${r.title}** (\`${r.command}\`, ${(r.durationMs / 1000).toFixed(0)} s)`,
      '',
      ...r.facts.map((f) => `- ${f}`),
      '',
    ]),
    '## Commands',
    '',
    '```sh',
    `npm run bench${quick ? ' -- --quick' : ''}   # all of them, this report (${context.totalSeconds.toFixed(0)} s this time)`,
    ...results.map((r) => `${r.command}`),
    '```',
    '',
    'Each script also runs alone and prints its table on stderr; our functions log to stdout (sent to /dev/null, as the scripts do themselves when stdout is a terminal). `npm run bench -- --quick` is the smoke test for CI (smaller sizes, under a minute here; its report goes to `.local/bench/report/`); `npm run bench -- --report-only` writes this page again from the results of the last run (after editing bench/NOTES.md). For CPU profiles of one path: `node --cpu-prof --cpu-prof-dir=<dir> --import tsx bench/<figure>.ts --only ours > /dev/null`, then `npx tsx bench/profile.ts <dir>/*.cpuprofile`; for the emulator, `BENCH_OFFLINE_NODE_ARGS="--cpu-prof --cpu-prof-dir=<dir>" npx tsx bench/emulator-throughput.ts --only b100`.',
    '',
    ...(notes ? [notes.replace(/^(#+) /gm, '#$1 '), ''] : []),
  ];
  return `${lines.join('\n')}\n`;
};

/** What a run saw besides the figures, kept so that `--report-only` can write the report again. */
interface RunRecord {
  readonly quick: boolean;
  readonly started: string;
  readonly totalSeconds: number;
  readonly before: ReturnType<typeof machine>;
  readonly after: ReturnType<typeof machine>;
  readonly others: readonly string[];
  readonly outcomes: readonly Outcome[];
}

const runRecordPath = (quick: boolean) => join(RESULTS_DIR, quick ? 'run.quick.json' : 'run.json');

const measureAll = async (quick: boolean): Promise<RunRecord> => {
  const started = new Date();
  const before = machine();
  for (const id of FIGURES) rmSync(resultPath(id, quick), { force: true });
  const outcomes: Outcome[] = [];
  /** Highest share of a core each other process name used in a sample. */
  const others = new Map<string, number>();
  const sample = async () => {
    for (const o of await otherLoad()) others.set(o.name, Math.max(o.pct, others.get(o.name) ?? 0));
  };
  await sample();
  for (const id of RUN_ORDER) {
    outcomes.push(await runScript(id, quick));
    await sample();
  }
  const record: RunRecord = {
    quick,
    started: started.toISOString(),
    totalSeconds: (Date.now() - started.getTime()) / 1000,
    before,
    after: machine(),
    others: [...others.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, pct]) => `${name} (up to ${pct}%)`),
    outcomes,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(runRecordPath(quick), `${JSON.stringify(record, null, 2)}\n`);
  return record;
};

/**
 * `npm run bench [-- --quick]` measures everything, then writes the report. With
 * `--report-only` it writes the report again from the last run's results (after editing
 * bench/NOTES.md, say), measuring nothing.
 */
const main = async () => {
  const { quick } = parseOptions();
  const record = process.argv.includes('--report-only')
    ? (JSON.parse(readFileSync(runRecordPath(quick), 'utf8')) as RunRecord)
    : await measureAll(quick);
  const started = new Date(record.started);
  const results = FIGURES.filter((id) => existsSync(resultPath(id, quick))).map((id) =>
    readResult(id, quick),
  );

  const outDir = quick ? join(WORK_DIR, 'report') : join(ROOT, 'docs');
  mkdirSync(outDir, { recursive: true });
  const chart = join(outDir, 'benchmarks.svg');
  writeFileSync(
    chart,
    await renderChart(
      results.flatMap((r) => r.rows),
      `Benchmarks, ${record.started.slice(0, 10)}${quick ? ' (quick)' : ''}: ${record.before.cores} cores`,
    ),
  );
  const markdown = join(outDir, 'benchmarks.md');
  writeFileSync(
    markdown,
    report(results, record.outcomes, {
      quick,
      started,
      totalSeconds: record.totalSeconds,
      before: record.before,
      after: record.after,
      others: record.others,
      chartFile: 'benchmarks.svg',
    }),
  );
  process.stderr.write(`\n${textTable(results.flatMap((r) => r.rows))}\n\n`);
  for (const o of record.outcomes) {
    say(`${o.id}: ${o.code === 0 ? 'ok' : `FAILED (exit ${o.code})`} in ${o.seconds.toFixed(1)} s`);
  }
  say(
    `wrote ${relative(ROOT, markdown)} and ${relative(ROOT, chart)} (measured in ${record.totalSeconds.toFixed(0)} s)`,
  );
  if (record.outcomes.some((o) => o.code !== 0)) process.exitCode = 1;
};

await main();
