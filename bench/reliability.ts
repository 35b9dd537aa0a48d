import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { INTERNAL_SERVER_ERROR } from '../plugins/serverless-offline-limits/src/limits.js';
import { loadConfig } from '../shared/config.js';
import { DEFAULT_USERS } from '../shared/models/index.js';
import { type FaultStack, startFaultStack } from '../tests/helpers/fault-stack.js';
import { kafkaClient, localBrokers, readTopic } from '../tests/helpers/kafka.js';
import { type Audit, audit, type Outcome, startLoad } from '../tests/helpers/load.js';
import type { ToxicProxy } from '../tests/helpers/toxiproxy.js';
import { until } from '../tests/helpers/wait.js';

/**
 * Reliability under faults (a benchmark, not a test): the whole service under `sls offline
 * start`, the broker and the store each behind toxiproxy, under a steady open-loop load of
 * POST /send (50 requests/s, each with its own Idempotency-Key, as in issue #9's trial). Each
 * fault is injected and healed while the load goes on, nothing restarted; then every 202 is
 * checked in Kafka (once, where its receipt says) and in the inbox (once).
 *
 * `npm run bench:reliability [-- --quick]`: the table goes to docs/reliability.md (with
 * `--quick`, a smoke run with short phases, to .local/bench/reliability.md).
 */

const ROOT = join(import.meta.dirname, '..');
const HTTP_PORT = 3300;
const quick = process.argv.includes('--quick');
const RATE_PER_SECOND = quick ? 20 : 50;
const PHASE_S = quick
  ? { warmup: 5, before: 2, fault: 3, after: 4 }
  : { warmup: 15, before: 5, fault: 10, after: 10 };
const OUT = quick ? join(ROOT, '.local/bench/reliability.md') : join(ROOT, 'docs/reliability.md');

interface Fault {
  readonly name: string;
  readonly proxy: (stack: FaultStack) => ToxicProxy;
  readonly inject: (proxy: ToxicProxy) => Promise<unknown>;
}

const FAULTS: readonly Fault[] = [
  { name: 'broker cut (refused)', proxy: (s) => s.broker, inject: (p) => p.down() },
  { name: 'broker black hole', proxy: (s) => s.broker, inject: (p) => p.blackhole() },
  { name: 'broker slow (+500 ms each way)', proxy: (s) => s.broker, inject: (p) => p.latency(500) },
  { name: 'store cut (refused)', proxy: (s) => s.store, inject: (p) => p.down() },
  { name: 'store slow (+500 ms each way)', proxy: (s) => s.store, inject: (p) => p.latency(500) },
];

interface Row {
  readonly fault: string;
  readonly audit: Audit;
  readonly refused: number;
  /** 500s of the offline gateway: throttled past the concurrency limit, or the function timed out. */
  readonly gateway500: number;
  /** 500s of the function itself (an unexpected error). */
  readonly app500: number;
  readonly unanswered: number;
  readonly p50_503Ms: number | undefined;
  readonly max503Ms: number | undefined;
  readonly first503Ms: number | undefined;
  readonly recoverMs: number | undefined;
  readonly peakRssMb: number;
}

const say = (message: string) => process.stderr.write(`[reliability] ${message}\n`);

const users = DEFAULT_USERS.map((u) => u.id);
const request = (index: number): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() },
  body: JSON.stringify({
    fromID: users[index % users.length],
    toID: users[(index + 1) % users.length],
    message: `reliability ${index}`,
  }),
});

const percentile = (values: readonly number[], p: number): number | undefined => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

/** Resident memory of a process in MB (Linux), or 0 when it cannot be read. */
const rssMb = (pid: number | undefined): number => {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
};

const measure = async (
  kafka: Kafka,
  stack: FaultStack,
  fault: Fault,
  earlier: Outcome[],
): Promise<Row> => {
  say(
    `${fault.name}: ${PHASE_S.before} s before, ${PHASE_S.fault} s of fault, ${PHASE_S.after} s after, ${RATE_PER_SECOND} requests/s`,
  );
  let stop = false;
  const load = startLoad({
    url: `${stack.base}/send`,
    ratePerSecond: RATE_PER_SECOND,
    request,
    done: () => stop,
  });
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb(stack.offline.child.pid));
  }, 250);
  await sleep(PHASE_S.before * 1000);
  const injectedAt = performance.now();
  await fault.inject(fault.proxy(stack));
  await sleep(PHASE_S.fault * 1000);
  const healedAt = performance.now();
  await fault.proxy(stack).heal();
  await sleep(PHASE_S.after * 1000);
  stop = true;
  const outcomes = await load.finished;
  clearInterval(sampler);
  earlier.push(...outcomes);

  // Wait (bounded) for the consumer to store every acknowledged notification.
  const accepted = earlier.filter((o) => o.status === 202).length;
  let result = audit(earlier, [], []);
  await until(
    async () => {
      result = audit(earlier, await readTopic(kafka, stack.topic), await stack.storedIds());
      return result.storedOnce >= accepted;
    },
    90_000,
    'every 202 stored',
    1_000,
  ).catch(() => say(`${fault.name}: not everything stored after 90 s`));
  const mine = new Set(outcomes.flatMap((o) => o.receipts.map((r) => r.id)));
  const refused = outcomes.filter((o) => o.status === 503);
  const latencies = refused.map((o) => o.answeredAt - o.sentAt);
  const first503 = refused.filter((o) => o.sentAt >= injectedAt).map((o) => o.answeredAt);
  const recovered = outcomes
    .filter((o) => o.status === 202 && o.sentAt >= healedAt)
    .map((o) => o.answeredAt);
  const own = (list: readonly string[]) =>
    list.filter((entry) => mine.has(entry.split(/[ :]/)[0] ?? ''));
  return {
    fault: fault.name,
    audit: {
      ...audit(outcomes, [], []),
      storedOnce: outcomes.filter(
        (o) =>
          o.status === 202 && o.receipts.every((r) => !result.lost.some((l) => l.startsWith(r.id))),
      ).length,
      duplicates: own(result.duplicates),
      lost: own(result.lost),
      misplaced: own(result.misplaced),
    },
    refused: refused.length,
    gateway500: outcomes.filter((o) => o.status === 500 && o.body === INTERNAL_SERVER_ERROR).length,
    app500: outcomes.filter(
      (o) => o.status >= 500 && o.status !== 503 && o.body !== INTERNAL_SERVER_ERROR,
    ).length,
    unanswered: outcomes.filter((o) => o.status === 0).length,
    p50_503Ms: percentile(latencies, 50),
    max503Ms: latencies.length ? Math.max(...latencies) : undefined,
    first503Ms: first503.length ? Math.min(...first503) - injectedAt : undefined,
    recoverMs: recovered.length ? Math.min(...recovered) - healedAt : undefined,
    peakRssMb: peakRss,
  };
};

const ms = (value: number | undefined) => (value === undefined ? '-' : `${Math.round(value)}`);

const table = (rows: readonly Row[]): string =>
  [
    '| fault | sent | 202 | stored once | duplicates | lost | 503 | 500 from the function | 500 from the gateway (throttled, timed out) | no answer | 503 latency p50 / max (ms) | first 503 after the fault (ms) | time to recover (ms) | peak RSS of sls offline (MB) |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...rows.map(
      (r) =>
        `| ${r.fault} | ${r.audit.sent} | ${r.audit.accepted} | ${r.audit.storedOnce} | ${r.audit.duplicates.length} | ${r.audit.lost.length + r.audit.misplaced.length} | ${r.refused} | ${r.app500} | ${r.gateway500} | ${r.unanswered} | ${ms(r.p50_503Ms)} / ${ms(r.max503Ms)} | ${ms(r.first503Ms)} | ${ms(r.recoverMs)} | ${Math.round(r.peakRssMb)} |`,
    ),
  ].join('\n');

const main = async () => {
  const kafka = kafkaClient(await localBrokers(), 'bench-reliability');
  const stack = await startFaultStack({
    kafka,
    httpPort: HTTP_PORT,
    // Another esbuild work folder: a developer's `npm start` may be using .esbuild.
    env: { ESBUILD_WORK_FOLDER: '.local/bench/esbuild-reliability' },
    // The faults are measured on publishing and storing: no pushing consumer beside them.
    args: ['--param', 'pushEnabled=false'],
  });
  const rows: Row[] = [];
  const all: Outcome[] = [];
  try {
    // Workers started and connected first, as a running service has them (not measured).
    say(`warming up for ${PHASE_S.warmup} s`);
    let warm = false;
    const warmup = startLoad({
      url: `${stack.base}/send`,
      ratePerSecond: RATE_PER_SECOND,
      request,
      done: () => warm,
    });
    await sleep(PHASE_S.warmup * 1000);
    warm = true;
    all.push(...(await warmup.finished));
    for (const fault of FAULTS) rows.push(await measure(kafka, stack, fault, all));
  } finally {
    await stack.close();
  }
  const settings = loadConfig({});
  const report = `# Reliability under faults

\`npm run bench:reliability\` (bench/reliability.ts${quick ? ', --quick' : ''}): the whole service under \`sls offline start\`
(worker threads, at most 32 invocations of a function at once), the local broker and a dynalite each
behind toxiproxy, ${RATE_PER_SECOND} POST /send per second (open loop, each with its own Idempotency-Key);
after ${PHASE_S.warmup} s of warm-up, per fault ${PHASE_S.before} s before, ${PHASE_S.fault} s of fault, ${PHASE_S.after} s after, nothing restarted.
KAFKA_SEND_TIMEOUT_MS ${settings.kafka.sendTimeoutMs}.

${table(rows)}

- **stored once**: 202s whose notification is in Kafka once, at the partition and offset of the
  receipt, and in the inbox once. **lost** counts acknowledged notifications missing or misplaced.
- **500 from the gateway**: \`{"message":"Internal Server Error"}\`, as AWS's HTTP API answers a
  function throttled past its concurrency (32 offline) or timed out; **500 from the function**:
  an unexpected error of ours (there should be none).
- **first 503 after the fault**: from the fault's start to the first 503 of a request sent after it.
- **time to recover**: from the fault's end to the first 202 of a request sent after it.

Machine: ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GiB,
load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} at the end. Figures from a shared machine are indicative only.
`;
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, report);
  process.stdout.write(`${table(rows)}\n`);
  say(`wrote ${OUT}`);
};

main().catch((error: unknown) => {
  say(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
