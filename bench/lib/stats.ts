/** Small statistics for benchmark samples: medians, percentiles and spreads. */

/** Sorted copy of `values` (numbers ascending). */
const sorted = (values: readonly number[]): number[] => [...values].sort((a, b) => a - b);

/**
 * The `p`-th percentile (0..100) by linear interpolation between closest ranks, as numpy's
 * default does. NaN for no values.
 */
export const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const s = sorted(values);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = s[lo] ?? Number.NaN;
  const b = s[hi] ?? Number.NaN;
  return a + (b - a) * (rank - lo);
};

export const median = (values: readonly number[]): number => percentile(values, 50);

/** A median with its spread: the lowest and highest value over rounds. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** How many values (rounds) it summarizes. */
  readonly n: number;
}

/** Median and min-max of per-round values. */
export const summarize = (values: readonly number[]): Summary => {
  const s = sorted(values);
  return {
    median: median(s),
    min: s[0] ?? Number.NaN,
    max: s.at(-1) ?? Number.NaN,
    n: s.length,
  };
};

/** Pairwise ratios `a[i] / b[i]` (rounds measured side by side). */
export const pairedRatios = (a: readonly number[], b: readonly number[]): number[] =>
  a.slice(0, Math.min(a.length, b.length)).map((x, i) => x / (b[i] ?? Number.NaN));

/** Milliseconds elapsed since `start` (from `process.hrtime.bigint()`). */
export const msSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
