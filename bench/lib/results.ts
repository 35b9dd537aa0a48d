import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pairedRatios, type Summary, summarize } from './stats.js';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** Where each figure leaves its JSON result for `bench/run.ts` (ignored by git). */
export const RESULTS_DIR = join(ROOT, 'bench/results');

/** Scratch space: bundles, CPU profiles, logs (ignored by git). */
export const WORK_DIR = join(ROOT, '.local/bench');

/** Whether our path reached its goal; `info` rows have none. */
export type Status = 'met' | 'missed' | 'info';

/** One line of the results table: our path against its baseline measured in the same run. */
export interface Row {
  /** The figure, such as `producer warm latency`. */
  readonly figure: string;
  /** What is measured, with its unit: `p50 (ms)`, `notifications/s`. */
  readonly metric: string;
  readonly oursLabel: string;
  readonly ours: Summary;
  readonly baselineLabel?: string;
  readonly baseline?: Summary;
  /** Median of ours over median of the baseline. */
  readonly ratio?: number;
  /** Min and max of the per-round ratios (rounds were run side by side). */
  readonly ratioSpread?: { readonly min: number; readonly max: number };
  /** The goal as the issue states it, such as `ratio <= 1.15`. */
  readonly goal?: string;
  /** The goal line drawn on the chart, on the ratio axis. */
  readonly goalRatio?: number;
  readonly status: Status;
}

/** Everything one benchmark script measured. */
export interface FigureResult {
  readonly id: string;
  readonly title: string;
  readonly quick: boolean;
  /** ISO time the script started. */
  readonly startedAt: string;
  readonly durationMs: number;
  /** How to run this figure alone. */
  readonly command: string;
  readonly rows: readonly Row[];
  /** Conditions of the measurement (sizes, rounds, settings), one sentence each. */
  readonly facts: readonly string[];
}

/** `<id>.json`, or `<id>.quick.json` for a `--quick` run, so that a smoke test never replaces a real result. */
export const resultPath = (id: string, quick: boolean): string =>
  join(RESULTS_DIR, `${id}${quick ? '.quick' : ''}.json`);

export const writeResult = (result: FigureResult): string => {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = resultPath(result.id, result.quick);
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
};

export const readResult = (id: string, quick: boolean): FigureResult =>
  JSON.parse(readFileSync(resultPath(id, quick), 'utf8')) as FigureResult;

/** A number with about three significant digits and thousands separators. */
export const fmt = (value: number | undefined): string => {
  if (value === undefined || !Number.isFinite(value)) return '-';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
};

/** `median [min-max]`. */
export const fmtSummary = (s: Summary | undefined): string =>
  s ? `${fmt(s.median)} [${fmt(s.min)}-${fmt(s.max)}]` : '-';

export const STATUS_MARK: Readonly<Record<Status, string>> = {
  met: 'met',
  missed: 'MISSED',
  info: '-',
};

/** Whether `ratio` meets a goal written as `<= x` or `>= x`. */
export const meets = (
  ratio: number,
  goal: { readonly atMost?: number; readonly atLeast?: number },
) =>
  (goal.atMost === undefined || ratio <= goal.atMost) &&
  (goal.atLeast === undefined || ratio >= goal.atLeast);

export interface Goal {
  readonly atMost?: number;
  readonly atLeast?: number;
}

/**
 * A row comparing per-round values of our path with its baseline's: medians, min-max over
 * rounds, the ratio of medians, the per-round ratios' range, and the goal on the ratio.
 */
export const compareRow = (r: {
  readonly figure: string;
  readonly metric: string;
  readonly oursLabel: string;
  readonly baselineLabel: string;
  readonly ours: readonly number[];
  readonly baseline: readonly number[];
  readonly goal?: Goal;
}): Row => {
  const ours = summarize(r.ours);
  const baseline = summarize(r.baseline);
  const ratio = ours.median / baseline.median;
  const perRound = summarize(pairedRatios(r.ours, r.baseline));
  const goal = r.goal;
  const goalRatio = goal?.atMost ?? goal?.atLeast;
  return {
    figure: r.figure,
    metric: r.metric,
    oursLabel: r.oursLabel,
    ours,
    baselineLabel: r.baselineLabel,
    baseline,
    ratio,
    ratioSpread: { min: perRound.min, max: perRound.max },
    ...(goal && goalRatio !== undefined
      ? {
          goal: goal.atMost !== undefined ? `ratio <= ${goal.atMost}` : `ratio >= ${goal.atLeast}`,
          goalRatio,
          status: meets(ratio, goal) ? 'met' : 'missed',
        }
      : { status: 'info' }),
  };
};

/** The rows as a Markdown table. */
export const markdownTable = (rows: readonly Row[]): string => {
  const head = [
    '| figure | metric | our path: median [min-max] | baseline | baseline: median [min-max] | ratio (ours/baseline) [per-round min-max] | goal | result |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const lines = rows.map((r) =>
    [
      r.figure,
      r.metric,
      `${fmtSummary(r.ours)}<br><sub>${r.oursLabel}</sub>`,
      r.baselineLabel ?? '-',
      fmtSummary(r.baseline),
      r.ratio === undefined
        ? '-'
        : `${fmt(r.ratio)}${r.ratioSpread ? ` [${fmt(r.ratioSpread.min)}-${fmt(r.ratioSpread.max)}]` : ''}`,
      r.goal ?? '-',
      STATUS_MARK[r.status],
    ].join(' | '),
  );
  return [...head, ...lines.map((l) => `| ${l} |`)].join('\n');
};

/** The rows as plain text for a terminal. */
export const textTable = (rows: readonly Row[]): string => {
  const cells = rows.map((r) => [
    r.figure,
    r.metric,
    fmtSummary(r.ours),
    r.baselineLabel ? `${fmtSummary(r.baseline)} (${r.baselineLabel})` : '-',
    r.ratio === undefined ? '-' : fmt(r.ratio),
    r.goal ?? '-',
    STATUS_MARK[r.status],
  ]);
  const header = ['figure', 'metric', 'ours', 'baseline', 'ratio', 'goal', 'result'];
  const all = [header, ...cells];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')).join('\n');
};
