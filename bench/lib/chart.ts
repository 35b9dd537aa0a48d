import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Row } from './results.js';

/**
 * The chart of the report, rendered server-side to SVG with Vega-Lite (no browser): each of our
 * paths as a ratio to its baseline, with the goal marked, and the end-to-end latencies against
 * their 1-second bound.
 */

const STATUS_COLORS = {
  domain: ['met', 'missed', 'info'],
  range: ['#2e7d32', '#c62828', '#757575'],
};

const label = (r: Row): string =>
  `${r.figure}: ${r.metric}${r.baselineLabel ? ` / ${r.baselineLabel.replace(/ \(informational\)$/, '')}` : ''}`;

export const chartSpec = (rows: readonly Row[], title: string): TopLevelSpec => {
  const ratios = rows
    .filter((r) => r.ratio !== undefined && Number.isFinite(r.ratio))
    .map((r) => ({
      label: label(r),
      ratio: r.ratio,
      lo: r.ratioSpread?.min ?? r.ratio,
      hi: r.ratioSpread?.max ?? r.ratio,
      goal: r.goalRatio ?? null,
      status: r.status,
    }));
  const latencies = rows
    .filter((r) => r.figure === 'end-to-end latency' && /^p\d+ \(ms\)$/.test(r.metric))
    .map((r) => ({
      label: `${r.metric.replace(' (ms)', '')}, ${r.oursLabel}`,
      ms: r.ours.median,
      lo: r.ours.min,
      hi: r.ours.max,
      status: r.status,
    }));
  const sort = ratios.map((r) => r.label);
  const axis = { labelLimit: 1000 };
  const ratioY = { field: 'label', type: 'nominal', sort, title: null, axis } as const;
  const latencyY = { field: 'label', type: 'nominal', title: null, axis } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, anchor: 'start', fontSize: 14 },
    // The SVG carries one <title> for screen readers (added below) rather than an ARIA role on
    // every mark, which linters of SVG files (Biome's a11y rules) reject on <g> elements.
    config: {
      font: 'sans-serif',
      view: { stroke: null },
      aria: false,
      axis: { aria: false },
      legend: { aria: false },
    },
    vconcat: [
      {
        title: {
          text: 'Our path / its baseline (dot: median of rounds, green met, red missed, grey no goal; whiskers: per-round min-max; black tick: goal; dashed: parity)',
          anchor: 'start',
          fontSize: 12,
        },
        width: 520,
        data: { values: ratios },
        layer: [
          {
            mark: { type: 'rule', color: '#9e9e9e', strokeDash: [4, 3] },
            encoding: { x: { datum: 1 } },
          },
          {
            mark: { type: 'point', filled: true, size: 90, opacity: 1 },
            encoding: {
              y: ratioY,
              x: {
                field: 'ratio',
                type: 'quantitative',
                scale: { type: 'log', domain: [0.02, 4], nice: false },
                title: 'ours / baseline (log scale)',
              },
              color: {
                field: 'status',
                type: 'nominal',
                scale: STATUS_COLORS,
                title: 'goal',
              },
            },
          },
          {
            mark: { type: 'rule' },
            encoding: {
              y: ratioY,
              x: { field: 'lo', type: 'quantitative' },
              x2: { field: 'hi' },
            },
          },
          {
            transform: [{ filter: 'datum.goal != null' }],
            mark: { type: 'tick', color: 'black', thickness: 3, size: 18 },
            encoding: { y: ratioY, x: { field: 'goal', type: 'quantitative' } },
          },
          {
            mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
            encoding: {
              y: ratioY,
              x: { field: 'hi', type: 'quantitative' },
              text: { field: 'ratio', type: 'quantitative', format: '.3~g' },
            },
          },
        ],
      },
      {
        title: {
          text: 'End-to-end latency under load (whole run; whiskers: lowest and highest 10-s slice; line: 1 s)',
          anchor: 'start',
          fontSize: 12,
        },
        width: 520,
        data: { values: latencies },
        layer: [
          {
            mark: { type: 'bar', height: 14 },
            encoding: {
              y: latencyY,
              x: { field: 'ms', type: 'quantitative', title: 'milliseconds' },
              color: { field: 'status', type: 'nominal', scale: STATUS_COLORS, legend: null },
            },
          },
          {
            mark: { type: 'rule' },
            encoding: {
              y: latencyY,
              x: { field: 'lo', type: 'quantitative' },
              x2: { field: 'hi' },
            },
          },
          {
            mark: { type: 'rule', color: 'black', strokeDash: [4, 3] },
            encoding: { x: { datum: 1000 } },
          },
        ],
      },
    ],
  };
};

/** Renders the chart to an SVG document. */
export const renderChart = async (rows: readonly Row[], title: string): Promise<string> => {
  const { spec } = compile(chartSpec(rows, title));
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const escaped = title.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return (
    svg
      // Vega still marks its group frames up as ARIA graphics objects, even with `aria: false`.
      .replace(/ role="graphics-[a-z]+"| aria-roledescription="[^"]*"/g, '')
      .replace(/^<svg[^>]*>/, (open) => `${open}<title>${escaped}</title>`)
  );
};
