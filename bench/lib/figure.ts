import { spawn } from 'node:child_process';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FigureResult, ROOT, textTable, writeResult } from './results.js';
import { msSince } from './stats.js';

/**
 * The frame of every benchmark script: options, progress on stderr, the result written for
 * `bench/run.ts`, and stdout kept for what the code under test logs.
 *
 * Our functions log JSON lines to stdout as Lambda's Node runtime captures them. A benchmark
 * must pay for that (Lambda does) without paying for a terminal drawing them: when stdout is a
 * terminal, the script runs itself again with stdout on /dev/null. Everything the benchmark
 * itself says goes to stderr.
 */

export interface BenchOptions {
  /** Fewer records, rounds and seconds: a smoke test that the benchmark still runs. */
  readonly quick: boolean;
  /**
   * Run only this path of each comparison (`--only ours`): for CPU profiles of one path. The
   * results then miss the other paths and mean nothing.
   */
  readonly only: string | undefined;
}

export const parseOptions = (argv: readonly string[] = process.argv.slice(2)): BenchOptions => {
  const at = argv.indexOf('--only');
  return { quick: argv.includes('--quick'), only: at >= 0 ? argv[at + 1] : undefined };
};

/** Progress for the reader, on stderr. */
export const say = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`);
};

/** Whether `moduleUrl` is the script node was started with (not imported by another). */
export const isMain = (moduleUrl: string): boolean =>
  process.argv[1] !== undefined && fileURLToPath(moduleUrl) === process.argv[1];

const rerunWithQuietStdout = (): Promise<number> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: ['inherit', 'ignore', 'inherit'],
      env: { ...process.env, BENCH_STDOUT: 'devnull' },
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });

/** What a figure measured: its rows and the conditions they were measured in. */
export type Measured = Pick<FigureResult, 'id' | 'title' | 'rows' | 'facts'>;

/** Something set up for a figure, released when it is done however it ends. */
export interface Setup {
  close(): Promise<void>;
}

/**
 * A figure in three steps that read in order: `setup` (topics, clients, processes, the paths to
 * compare), `drive` (warm-up and the measured rounds), `report` (rows and facts). Whatever
 * `setup` built is closed afterwards, even when `drive` fails.
 */
export const defineFigure =
  <Sizes, Bench extends Setup, Samples>(steps: {
    /** Rounds, counts and durations, smaller with `--quick`. */
    readonly sizes: (options: BenchOptions) => Sizes;
    readonly setup: (sizes: Sizes) => Promise<Bench>;
    readonly drive: (bench: Bench, sizes: Sizes) => Promise<Samples>;
    readonly report: (samples: Samples, bench: Bench, sizes: Sizes) => Measured;
  }) =>
  async (options: BenchOptions): Promise<Measured> => {
    const sizes = steps.sizes(options);
    const bench = await steps.setup(sizes);
    try {
      return steps.report(await steps.drive(bench, sizes), bench, sizes);
    } finally {
      await bench.close();
    }
  };

/**
 * Runs one figure when its script is started directly: measures, prints the table on stderr,
 * and writes the JSON result to `bench/results/<id>.json`.
 */
export const runFigure = async (
  moduleUrl: string,
  measure: (options: BenchOptions) => Promise<Measured>,
): Promise<void> => {
  if (!isMain(moduleUrl)) return;
  if (process.stdout.isTTY && process.env.BENCH_STDOUT === undefined) {
    process.exitCode = await rerunWithQuietStdout();
    return;
  }
  const options = parseOptions();
  const script = relative(ROOT, fileURLToPath(moduleUrl));
  const startedAt = new Date().toISOString();
  const t0 = process.hrtime.bigint();
  try {
    const measured = await measure(options);
    const result: FigureResult = {
      ...measured,
      startedAt,
      durationMs: msSince(t0),
      quick: options.quick,
      command: `npx tsx ${script}${options.quick ? ' --quick' : ''}`,
    };
    const path = writeResult(result);
    process.stderr.write(`\n${result.title}\n${textTable(result.rows)}\n`);
    for (const fact of result.facts) process.stderr.write(`  - ${fact}\n`);
    say(`wrote ${relative(ROOT, path)} (${(result.durationMs / 1000).toFixed(1)} s)`);
  } catch (error) {
    process.stderr.write(
      `[bench] ${script} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  }
  // Clients that forget a timer must not keep a finished benchmark alive.
  setTimeout(() => process.exit(), 2_000).unref();
};

/**
 * Runs every path once per round for `rounds` rounds, rotating which goes first (A/B, B/A, or
 * A/B/C, B/C/A, C/A/B), so that noise and warm-up hit all of them alike. Resolves with each
 * path's per-round results.
 */
export const interleave = async <K extends string, T>(
  rounds: number,
  paths: Readonly<Record<K, (round: number) => Promise<T>>>,
  onRound?: (round: number, results: Readonly<Record<K, T>>) => void,
): Promise<Record<K, T[]>> => {
  const { only } = parseOptions();
  const names = (Object.keys(paths) as K[]).filter((n) => only === undefined || n === only);
  const out = Object.fromEntries(names.map((n) => [n, [] as T[]])) as Record<K, T[]>;
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length] as K);
    const results = {} as Record<K, T>;
    for (const name of order) results[name] = await paths[name](round);
    for (const name of names) out[name].push(results[name]);
    for (const name of Object.keys(paths) as K[]) out[name] ??= [];
    if (only === undefined) onRound?.(round, results);
  }
  return out;
};
