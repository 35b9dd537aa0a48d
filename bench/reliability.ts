import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { INTERNAL_SERVER_ERROR } from '../plugins/serverless-offline-limits/src/limits.js';
import { loadConfig } from '../shared/config.js';
import { DEFAULT_USERS } from '../shared/models/index.js';
import { startTestCluster } from '../tests/helpers/cluster.js';
import {
  type ClusterScenario,
  clusterLoadRequest,
  leaderKilled,
  openSessions,
  ROLLING_RESTART,
  runClusterScenario,
  type ScenarioResult,
  twoDown,
} from '../tests/helpers/cluster-faults.js';
import { brokerProxy, type FaultStack, startFaultStack } from '../tests/helpers/fault-stack.js';
import { kafkaClient, localBrokers, readTopic } from '../tests/helpers/kafka.js';
import { type Audit, audit, type Outcome, startLoad } from '../tests/helpers/load.js';
import type { ToxicProxy } from '../tests/helpers/toxiproxy.js';
import { until } from '../tests/helpers/wait.js';

/**
 * Reliability under faults (a benchmark, not a test): the whole service under `sls offline
 * start`, under a steady open-loop load of POST /send (50 requests/s, each with its own
 * Idempotency-Key, as in issue #9's trial); then every 202 is checked in Kafka (once, where its
 * receipt says) and in the inbox (once).
 * - On one broker, the broker and the store each behind toxiproxy: each fault is injected and
 *   healed while the load goes on, nothing restarted.
 * - On three replicated nodes (issue 17): what replication costs at 50/s against one broker, in
 *   the same run, then MSK's rolling restart, a leader killed, two of three nodes down.
 *
 * `npm run bench:reliability [-- --quick] [-- --only proxy|cluster]`: the tables go to
 * docs/reliability.md (with `--quick`, a smoke run with short phases, to
 * .local/bench/reliability.md).
 */

const ROOT = join(import.meta.dirname, '..');
const HTTP_PORT = 3300;
const CLUSTER_HTTP_PORT = 3700;
const quick = process.argv.includes('--quick');
const RATE_PER_SECOND = quick ? 20 : 50;
const PHASE_S = quick
  ? { warmup: 5, before: 2, fault: 3, after: 4 }
  : { warmup: 15, before: 5, fault: 10, after: 10 };
const only = (() => {
  const at = process.argv.indexOf('--only');
  return at >= 0 ? process.argv[at + 1] : undefined;
})();
/** Steady load measured on one broker, then on three, for the cost of replication. */
const STEADY_S = quick ? { warmup: 5, measure: 10 } : { warmup: 10, measure: 30 };
const CLUSTER_PHASE_MS = quick
  ? { before: 2_000, after: 3_000, down: 5_000 }
  : { before: 5_000, after: 5_000, down: 10_000 };
const OUT = quick ? join(ROOT, '.local/bench/reliability.md') : join(ROOT, 'docs/reliability.md');

interface Fault {
  readonly name: string;
  readonly proxy: (stack: FaultStack) => ToxicProxy;
  readonly inject: (proxy: ToxicProxy) => Promise<unknown>;
}

const FAULTS: readonly Fault[] = [
  { name: 'broker cut (refused)', proxy: brokerProxy, inject: (p) => p.down() },
  { name: 'broker black hole', proxy: brokerProxy, inject: (p) => p.blackhole() },
  { name: 'broker slow (+500 ms each way)', proxy: brokerProxy, inject: (p) => p.latency(500) },
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

/** The five toxiproxy faults on one broker. */
const proxyRows = async (): Promise<Row[]> => {
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
  return rows;
};

/** POST /send latency (202s) and send-to-push latency at a steady rate, in ms. */
interface Steady {
  readonly brokers: number;
  readonly sent: number;
  readonly accepted: number;
  readonly producer: readonly number[];
  readonly endToEnd: readonly number[];
}

/** A fault stack whose functions reach `brokers` directly, with one open session per user. */
const clusterStack = async (kafka: Kafka, brokers: readonly string[]) => {
  const stack = await startFaultStack({
    kafka,
    httpPort: CLUSTER_HTTP_PORT,
    brokers,
    env: { ESBUILD_WORK_FOLDER: '.local/bench/esbuild-reliability' },
  });
  await stack.offline.waitForOutput(/Kafka pushNotifications: joined group/, 90_000);
  const sessions = await openSessions(`ws://127.0.0.1:${CLUSTER_HTTP_PORT + 1}`);
  return { stack, sessions };
};

/** `STEADY_S.measure` seconds at the benchmark's rate, after a warm-up that is not counted. */
const steady = async (
  brokers: number,
  { stack, sessions }: Awaited<ReturnType<typeof clusterStack>>,
): Promise<Steady> => {
  say(`${brokers} broker(s): ${STEADY_S.warmup} s warm-up, ${STEADY_S.measure} s measured`);
  let stop = false;
  const warmup = startLoad({
    url: `${stack.base}/send`,
    ratePerSecond: RATE_PER_SECOND,
    request: clusterLoadRequest,
    done: () => stop,
  });
  await sleep(STEADY_S.warmup * 1000);
  stop = true;
  await warmup.finished;
  let done = false;
  const load = startLoad({
    url: `${stack.base}/send`,
    ratePerSecond: RATE_PER_SECOND,
    request: clusterLoadRequest,
    done: () => done,
  });
  await sleep(STEADY_S.measure * 1000);
  done = true;
  const outcomes = await load.finished;
  const accepted = outcomes.filter((o) => o.status === 202);
  const ids = accepted.flatMap((o) => o.receipts.map((r) => ({ id: r.id, sentAt: o.sentAt })));
  await until(
    () => ids.every((i) => sessions.firstPushAt.has(i.id)),
    30_000,
    'every 202 pushed',
    200,
  ).catch(() => say(`${brokers} broker(s): not every 202 pushed within 30 s`));
  return {
    brokers,
    sent: outcomes.length,
    accepted: accepted.length,
    producer: accepted.map((o) => o.answeredAt - o.sentAt),
    endToEnd: ids.flatMap((i) => {
      const at = sessions.firstPushAt.get(i.id);
      return at === undefined ? [] : [at - i.sentAt];
    }),
  };
};

/** The cost of replication, then the three cluster scenarios on three nodes. */
const clusterRows = async (): Promise<{ cost: Steady[]; scenarios: ScenarioResult[] }> => {
  const cost: Steady[] = [];
  const singleBrokers = await localBrokers();
  const single = await clusterStack(kafkaClient(singleBrokers, 'bench-reliability'), singleBrokers);
  try {
    cost.push(await steady(1, single));
  } finally {
    await single.sessions.close();
    await single.stack.close();
  }
  const cluster = await startTestCluster();
  const scenarios: ScenarioResult[] = [];
  try {
    const three = await clusterStack(cluster.kafka, cluster.brokers);
    try {
      cost.push(await steady(3, three));
      const earlier: Outcome[] = [];
      const probe = async () => {
        await until(
          async () =>
            (await fetch(`${three.stack.base}/send`, clusterLoadRequest(0))).status === 202,
          60_000,
          'a 202 with one node back',
          250,
        );
      };
      const list: ClusterScenario[] = [
        ROLLING_RESTART,
        leaderKilled(CLUSTER_PHASE_MS.down),
        twoDown(CLUSTER_PHASE_MS.down, probe),
      ];
      for (const scenario of list) {
        say(`cluster: ${scenario.name}`);
        scenarios.push(
          await runClusterScenario({
            stack: three.stack,
            cluster,
            sessions: three.sessions,
            scenario,
            ratePerSecond: RATE_PER_SECOND,
            beforeMs: CLUSTER_PHASE_MS.before,
            afterMs: CLUSTER_PHASE_MS.after,
            earlier,
          }),
        );
      }
    } finally {
      await three.sessions.close();
      await three.stack.close();
    }
  } finally {
    await cluster.close();
  }
  return { cost, scenarios };
};

const p = (values: readonly number[], q: number) => ms(percentile(values, q));

const costTable = (cost: readonly Steady[]): string => {
  const one = cost.find((c) => c.brokers === 1);
  const ratio = (c: Steady, pick: (s: Steady) => readonly number[], q: number) => {
    const base = one ? percentile(pick(one), q) : undefined;
    const value = percentile(pick(c), q);
    return base && value !== undefined ? `${(value / base).toFixed(2)}x` : '-';
  };
  return [
    '| brokers | sent | 202 | producer p50 / p99 (ms) | end to end p50 / p99 (ms) | producer p50 / p99 vs one broker | end to end p50 / p99 vs one broker |',
    '|---|--:|--:|--:|--:|--:|--:|',
    ...cost.map(
      (c) =>
        `| ${c.brokers === 1 ? 'one (replication 1)' : 'three (replication 3, min ISR 2)'} | ${c.sent} | ${c.accepted} | ${p(c.producer, 50)} / ${p(c.producer, 99)} | ${p(c.endToEnd, 50)} / ${p(c.endToEnd, 99)} | ${ratio(c, (s) => s.producer, 50)} / ${ratio(c, (s) => s.producer, 99)} | ${ratio(c, (s) => s.endToEnd, 50)} / ${ratio(c, (s) => s.endToEnd, 99)} |`,
    ),
  ].join('\n');
};

const scenarioTable = (results: readonly ScenarioResult[]): string =>
  [
    '| scenario | sent | 202 | stored once | duplicates | lost | 503 | 500 from the gateway (throttled, timed out) | no answer in 15 s | other | 503 without Retry-After | 503 slower than the deadline + 0.5 s | records in Kafka never stored | 202s never pushed | first 503 after the fault (ms) | time to recover (ms) | lag 0 after the last node is back (ms) | 202 latency p50 / p99 (ms) |',
    `|---${'|--:'.repeat(17)}|`,
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.audit.sent} | ${r.audit.accepted} | ${r.audit.storedOnce} | ${r.audit.duplicates.length} | ${r.audit.lost.length + r.audit.misplaced.length} | ${r.refused} | ${r.throttled} | ${r.unanswered} | ${r.other.length} | ${r.withoutRetryAfter} | ${r.slowRefusals.length} | ${r.skipped.length} | ${r.unpushed.length} | ${ms(r.first503Ms)} | ${ms(r.recoverMs)} | ${ms(r.lagZeroMs)} | ${p(r.accepted, 50)} / ${p(r.accepted, 99)} |`,
    ),
  ].join('\n');

const PROXY_HEADING = '## One broker, faults injected by a proxy';
const CLUSTER_HEADING = "## Three replicated nodes: what replication costs, and MSK's failures";

/** The machine, and its load average now: each section's figures are only as good as this. */
const machine = (): string =>
  `Machine: ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} at the end. Figures from a shared machine are indicative only.`;

/** A section of the report already written, kept when `--only` measures the other one. */
const keptSection = (heading: string): string => {
  if (!existsSync(OUT)) return '';
  const text = readFileSync(OUT, 'utf8');
  const start = text.indexOf(heading);
  if (start < 0) return '';
  const next = text.indexOf('\n## ', start + heading.length);
  return `${text.slice(start, next < 0 ? undefined : next + 1).trimEnd()}\n`;
};

const main = async () => {
  const rows = only === 'cluster' ? [] : await proxyRows();
  const proxyMachine = machine();
  const cluster = only === 'proxy' ? undefined : await clusterRows();
  const clusterMachine = machine();
  const settings = loadConfig({});
  const proxySection = rows.length
    ? `${PROXY_HEADING}

The whole service under \`sls offline start\`
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

${proxyMachine}
`
    : keptSection(PROXY_HEADING);
  const clusterSection = cluster
    ? `${CLUSTER_HEADING}

Three KRaft nodes on the jars (each broker and controller, 256 MiB heap), topics with replication
factor 3 and min.insync.replicas 2, the functions reaching the nodes directly (no proxy), both
consumers running and one WebSocket session open per user; ${RATE_PER_SECOND} POST /send per second.

**The cost of replication**: ${STEADY_S.measure} s at ${RATE_PER_SECOND}/s after ${STEADY_S.warmup} s of warm-up, on the local
single broker, then on the three nodes, in the same run. Producer: POST /send answered 202 (acks
from all in-sync replicas). End to end: from the POST being sent to the notification pushed to the
recipient's open WebSocket session (through Kafka, the pushing consumer and API Gateway's
@connections, emulated).

${costTable(cluster.cost)}

**The scenarios**, one after the other on one stack: ${CLUSTER_PHASE_MS.before / 1000} s of load before the fault, the fault,
${CLUSTER_PHASE_MS.after / 1000} s after the last node is back; a killed node stays down ${CLUSTER_PHASE_MS.down / 1000} s.

${scenarioTable(cluster.scenarios)}

- **rolling restart**: each node stopped gracefully (controlled shutdown: its leaders move first)
  and started again, back in every partition's in-sync replicas before the next, as MSK patches.
- **leader killed**: SIGKILL of the leader of partition 0. Writes with acks=all wait for every
  in-sync replica, so every partition (not only the killed leader's) stalls until the cluster
  fences the dead node (broker.session.timeout.ms, 3 s here, 9 s by default): requests in
  that window get a 503 at the send deadline, and no 503 comes after it.
- **two of three down**: one node stopped gracefully, then another killed: below
  min.insync.replicas (and without a controller quorum) every write is refused with a 503 until
  the killed node returns.
- **time to recover**: from the new leader (leader killed) or the first node back (two down) to
  the first 202 of a request sent after it. **lag 0**: both consumer groups have committed every
  record, measured from the last node's return (the load goes on ${CLUSTER_PHASE_MS.after / 1000} s after it).

${clusterMachine}
`
    : keptSection(CLUSTER_HEADING);
  const report = `# Reliability under faults

\`npm run bench:reliability\` (bench/reliability.ts${quick ? ', --quick' : ''}).

${proxySection}
${clusterSection}`;
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, report);
  if (rows.length) process.stdout.write(`${table(rows)}\n`);
  if (cluster)
    process.stdout.write(`${costTable(cluster.cost)}\n\n${scenarioTable(cluster.scenarios)}\n`);
  say(`wrote ${OUT} (${clusterMachine})`);
};

main().catch((error: unknown) => {
  say(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
