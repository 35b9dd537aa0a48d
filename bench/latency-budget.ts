import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  ensureConnectionsTable,
  ensureIdempotencyTable,
  ensureInboxTable,
} from '../scripts/lib/dynalite.js';
import { LOCAL_ISSUER_DIR } from '../shared/identity/constants.js';
import { DEFAULT_USERS } from '../shared/models/index.js';
import type { ServerMessage } from '../shared/realtime/messages.js';
import { tokenFor } from '../tests/helpers/api-client.js';
import { kafkaClient, localBrokers, unique } from '../tests/helpers/kafka.js';
import { type Offline, startOffline } from '../tests/helpers/offline.js';
import { openSocket, protocolsFor, type TestSocket } from '../tests/helpers/websocket.js';
import { againstRef, checkoutOf } from './lib/checkout.js';
import { defineFigure, parseOptions, runFigure, say } from './lib/figure.js';
import { fmt, ROOT, type Row } from './lib/results.js';
import { median, percentile, summarize } from './lib/stats.js';
import { startStoreProcess } from './lib/store-process.js';

/**
 * The latency budget of one notification through `sls offline start`, hop by hop, and what the
 * local stack's processes spend on it. The whole service runs as `npm start` runs it (both
 * consumers, batching window 0 for both), with `LATENCY_TRACE=true`: each function writes its
 * invocation's times (shared/trace.ts) and the Kafka emulator each fetch's
 * (plugins/serverless-offline-kafka/src/poller.js); the topic stamps records with the broker's
 * append time (`message.timestamp.type=LogAppendTime`), which the event carries. The client notes
 * when it sent each POST, got its answer, received the WebSocket frame, and first saw the
 * notification in `GET /me/notifications` (each user's inbox polled back to back, at most every
 * 50 ms). Every time is `performance.timeOrigin + performance.now()`: one clock for every process
 * and thread of the machine.
 *
 * Two loads, each on a fresh stack: an open loop (`--rate`, default 50 notifications/s, to the
 * four users in turn, for `--seconds`), and a closed loop of 16 clients posting back to back
 * (throughput, CPU per 1,000 POSTs). CPU is read from /proc per process and thread: the
 * `sls offline` process's main thread (HTTP server, Kafka emulator, every log line's
 * forwarding), its other threads (the functions' worker threads, GC and libuv helpers), the store
 * (dynalite in its own process) and the broker (the local node's JVM).
 *
 * `--against <ref>` runs the same loads, in alternating rounds, on that commit extracted beside
 * (its functions do not trace: its rows have client-side figures and CPU only).
 * `--variant <name>=<sls offline args>` adds this checkout with other options as a third path.
 */

const HTTP_PORT = 3700;
const POLL_MIN_INTERVAL_MS = 50;
const CLOSED_LOOP_CLIENTS = 16;

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

const numberOption = (flag: string): number | undefined => {
  const at = process.argv.indexOf(flag);
  const value = at >= 0 ? Number(process.argv[at + 1]) : Number.NaN;
  return Number.isFinite(value) && value > 0 ? value : undefined;
};

/** A build to measure: this checkout (with options) or another commit. */
interface Path {
  readonly name: string;
  readonly root: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

const pathsToMeasure = (): Path[] => {
  const paths: Path[] = [{ name: 'this', root: ROOT, args: [], env: {} }];
  const ref = againstRef();
  if (ref) {
    const { sha, root } = checkoutOf(ref);
    // The local issuer's keys: its functions read them from their own .local.
    const identity = join(root, LOCAL_ISSUER_DIR);
    if (!existsSync(identity)) {
      mkdirSync(join(root, '.local'), { recursive: true });
      symlinkSync(join(ROOT, LOCAL_ISSUER_DIR), identity, 'dir');
    }
    paths.push({ name: `${ref} (${sha.slice(0, 7)})`, root, args: [], env: {} });
  }
  process.argv.forEach((arg, i) => {
    if (arg !== '--variant') return;
    const spec = process.argv[i + 1] ?? '';
    const at = spec.indexOf('=');
    const name = at > 0 ? spec.slice(0, at) : 'variant';
    const args = at > 0 ? spec.slice(at + 1) : spec;
    paths.push({ name, root: ROOT, args: args.split(' ').filter(Boolean), env: {} });
  });
  return paths;
};

// --- CPU per process and thread, from /proc --------------------------------------------------

const TICK_MS = 10; // USER_HZ is 100 on Linux

const ticksOf = (statPath: string): number => {
  try {
    const stat = readFileSync(statPath, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
};

const cmdlineOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** Children of `pid` (all generations). */
const descendantsOf = (pid: number): number[] => {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, p] of parent) {
      if ((p === pid || out.includes(p)) && !out.includes(child)) {
        out.push(child);
        grew = true;
      }
    }
  }
  return out;
};

/** The broker this run uses: the local node's JVM (its command line names this checkout). */
const brokerPids = (): number[] =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      const cmd = cmdlineOf(pid);
      return cmd.includes('java') && cmd.includes('kafka') && cmd.includes(ROOT);
    });

interface CpuPids {
  readonly offline: number;
  readonly store: number[];
  readonly broker: number[];
}

type CpuSample = Record<'offlineMain' | 'offlineOther' | 'store' | 'broker', number>;

const sampleCpu = ({ offline, store, broker }: CpuPids): CpuSample => {
  let offlineMain = 0;
  let offlineOther = 0;
  // sls offline may be the framework's process or one it started: all its tasks count.
  for (const pid of [offline, ...descendantsOf(offline)]) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const ticks = ticksOf(`/proc/${pid}/task/${tid}/stat`);
      if (Number(tid) === pid && pid === offline) offlineMain += ticks;
      else offlineOther += ticks;
    }
  }
  const sum = (pids: number[]) => pids.reduce((a, p) => a + ticksOf(`/proc/${p}/stat`), 0);
  return { offlineMain, offlineOther, store: sum(store), broker: sum(broker) };
};

const cpuMsBetween = (a: CpuSample, b: CpuSample): CpuSample => ({
  offlineMain: (b.offlineMain - a.offlineMain) * TICK_MS,
  offlineOther: (b.offlineOther - a.offlineOther) * TICK_MS,
  store: (b.store - a.store) * TICK_MS,
  broker: (b.broker - a.broker) * TICK_MS,
});

// --- the stack ---------------------------------------------------------------------------------

interface Trace {
  readonly fn: string;
  readonly marks: Record<string, number>;
  readonly keys: string[];
  readonly appended?: number[];
}

interface Stack {
  readonly base: string;
  readonly websocketUrl: string;
  readonly offline: Offline;
  readonly cpuPids: CpuPids;
  readonly traces: Trace[];
  throttled: number;
  stop(): Promise<void>;
}

const startStack = async (path: Path, brokers: readonly string[], port: number): Promise<Stack> => {
  const admin = kafkaClient([...brokers], 'bench-budget').admin();
  await admin.connect();
  const topic = unique('bench-budget');
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic,
        numPartitions: 3,
        // The record's timestamp is when the broker appended it: the event carries it.
        configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
      },
      { topic: `${topic}.dlq`, numPartitions: 3 },
    ],
  });
  const before = new Set(descendantsOf(process.pid));
  const store = await startStoreProcess();
  const storePids = descendantsOf(process.pid).filter((p) => !before.has(p));
  const tables = {
    INBOX_TABLE: unique('budget-inbox'),
    CONNECTIONS_TABLE: unique('budget-connections'),
    IDEMPOTENCY_TABLE: unique('budget-keys'),
  };
  await ensureInboxTable(store.endpoint, tables.INBOX_TABLE);
  await ensureConnectionsTable(store.endpoint, tables.CONNECTIONS_TABLE);
  await ensureIdempotencyTable(store.endpoint, tables.IDEMPOTENCY_TABLE);
  const traces: Trace[] = [];
  const stack = { throttled: 0 };
  const params = {
    topic,
    deadLetterTopic: `${topic}.dlq`,
    consumerGroupId: unique('budget-store'),
    pushConsumerGroupId: unique('budget-push'),
    // npm start's setup, with both windows at 0 (the issue's conditions), and no per-sender
    // limit (four users at 50/s would pass it; at the closed loop's rate they would not).
    consumerBatchingWindow: '0',
    pushBatchingWindow: '0',
    sendRateLimit: '0',
  };
  const offline = await startOffline(
    path.root,
    {
      KAFKA_BROKERS: brokers.join(','),
      DYNAMODB_ENDPOINT: store.endpoint,
      ...tables,
      LATENCY_TRACE: 'true',
      ESBUILD_WORK_FOLDER: '.local/bench/esbuild-budget',
      ...path.env,
    },
    {
      nodeArgs: process.env.BENCH_OFFLINE_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
      keepChars: 20_000,
      args: [
        '--httpPort',
        String(port),
        ...Object.entries(params).flatMap(([k, v]) => ['--param', `${k}=${v}`]),
        ...path.args,
      ],
      listener: (line) => {
        const at = line.indexOf('latency-trace {');
        if (at >= 0) {
          try {
            traces.push(JSON.parse(line.slice(at + 'latency-trace '.length)) as Trace);
          } catch {
            // a line cut by another thread's write: lost
          }
        } else {
          if (/ throttled: /.test(line)) stack.throttled++;
          if (process.env.BENCH_BUDGET_LOG)
            appendFileSync(process.env.BENCH_BUDGET_LOG, `${line}\n`);
        }
      },
    },
  );
  await offline.waitForOutput(/Kafka processNotifications: joined group/, 120_000);
  await offline.waitForOutput(/Kafka pushNotifications: joined group/, 120_000);
  return Object.assign(stack, {
    base: `http://127.0.0.1:${port}`,
    websocketUrl: `ws://127.0.0.1:${port + 1}`,
    offline,
    traces,
    cpuPids: {
      offline: offline.child.pid ?? 0,
      store: storePids,
      broker: brokerPids(),
    },
    stop: async () => {
      await offline.stop();
      await store.stop();
      await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => undefined);
      await admin.disconnect();
    },
  });
};

// --- the loads ---------------------------------------------------------------------------------

interface Sent {
  readonly sent: number;
  answered?: number;
  key?: string;
  id?: string;
  status?: number;
}

const post = async (stack: Stack, token: string, toId: number, into: Sent[]): Promise<Sent> => {
  const s: Sent = { sent: now() };
  into.push(s);
  try {
    const response = await fetch(`${stack.base}/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ toId, message: 'budget' }),
    });
    const body = (await response.json()) as { id?: string; partition?: number; offset?: string };
    s.answered = now();
    s.status = response.status;
    if (body.id) {
      s.id = body.id;
      s.key = `${body.partition}:${body.offset}`;
    }
  } catch {
    s.status = 0;
  }
  return s;
};

interface OpenLoop {
  readonly sent: Sent[];
  readonly framedAt: Map<string, number>;
  readonly polledAt: Map<string, number>;
  readonly getMs: number[];
  readonly traces: Trace[];
  readonly cpu: CpuSample;
  readonly seconds: number;
  readonly throttled: number;
}

const openLoop = async (
  stack: Stack,
  tokens: ReadonlyMap<number, string>,
  sockets: ReadonlyMap<number, TestSocket>,
  rate: number,
  seconds: number,
  measure: boolean,
): Promise<OpenLoop> => {
  const sent: Sent[] = [];
  const framedAt = new Map<string, number>();
  const polledAt = new Map<string, number>();
  const getMs: number[] = [];
  const listeners = [...sockets.values()].map((socket) => {
    const hear = (data: unknown) => {
      const at = now();
      const message = JSON.parse(String(data)) as ServerMessage;
      // One notification, or several of one batch in one message.
      const carried =
        message.type === 'notification'
          ? [message.notification]
          : message.type === 'notifications'
            ? message.notifications
            : [];
      for (const { id } of carried) if (!framedAt.has(id)) framedAt.set(id, at);
    };
    socket.socket.on('message', hear);
    return () => socket.socket.off('message', hear);
  });
  let polling = true;
  const pollers = DEFAULT_USERS.map(async (user) => {
    while (polling) {
      const started = now();
      try {
        const response = await fetch(`${stack.base}/me/notifications?limit=20`, {
          headers: { authorization: `Bearer ${tokens.get(user.id)}` },
        });
        const body = (await response.json()) as { notifications?: { id: string }[] };
        const at = now();
        getMs.push(at - started);
        for (const { id } of body.notifications ?? []) if (!polledAt.has(id)) polledAt.set(id, at);
      } catch {
        // the next poll sees it
      }
      await sleep(started + POLL_MIN_INTERVAL_MS - now());
    }
  });
  const firstTrace = stack.traces.length;
  const throttledBefore = stack.throttled;
  const cpuBefore = sampleCpu(stack.cpuPids);
  const start = now();
  const posts: Promise<Sent>[] = [];
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    await sleep(start + (i * 1000) / rate - now());
    const to = DEFAULT_USERS[i % DEFAULT_USERS.length]?.id ?? 1;
    const from = DEFAULT_USERS[(i + 1) % DEFAULT_USERS.length]?.id ?? 2;
    posts.push(post(stack, tokens.get(from) ?? '', to, sent));
  }
  await Promise.all(posts);
  const cpuAfter = sampleCpu(stack.cpuPids);
  const elapsed = (now() - start) / 1000;
  // Until every accepted one was framed and polled, or 10 s.
  const deadline = now() + 10_000;
  const accepted = () => sent.filter((s) => s.id);
  while (
    !accepted().every((s) => framedAt.has(s.id ?? '') && polledAt.has(s.id ?? '')) &&
    now() < deadline
  ) {
    await sleep(50);
  }
  polling = false;
  await Promise.all(pollers);
  for (const off of listeners) off();
  await sleep(300); // the last trace lines
  if (!measure) say('warm-up done');
  return {
    sent,
    framedAt,
    polledAt,
    getMs,
    traces: stack.traces.slice(firstTrace),
    cpu: cpuMsBetween(cpuBefore, cpuAfter),
    seconds: elapsed,
    throttled: stack.throttled - throttledBefore,
  };
};

interface ClosedLoop {
  readonly accepted: number;
  readonly failed: number;
  readonly seconds: number;
  readonly cpu: CpuSample;
}

const closedLoop = async (
  stack: Stack,
  tokens: ReadonlyMap<number, string>,
  seconds: number,
): Promise<ClosedLoop> => {
  const sent: Sent[] = [];
  const cpuBefore = sampleCpu(stack.cpuPids);
  const start = now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: CLOSED_LOOP_CLIENTS }, async (_, c) => {
      for (let i = 0; now() < end; i++) {
        const to = DEFAULT_USERS[(c + i) % DEFAULT_USERS.length]?.id ?? 1;
        const from = DEFAULT_USERS[(c + i + 1) % DEFAULT_USERS.length]?.id ?? 2;
        await post(stack, tokens.get(from) ?? '', to, sent);
      }
    }),
  );
  const elapsed = (now() - start) / 1000;
  const cpuAfter = sampleCpu(stack.cpuPids);
  const accepted = sent.filter((s) => s.status === 202).length;
  return {
    accepted,
    failed: sent.length - accepted,
    seconds: elapsed,
    cpu: cpuMsBetween(cpuBefore, cpuAfter),
  };
};

// --- hops --------------------------------------------------------------------------------------

/** Per notification (by `<partition>:<offset>`), the times each traced step saw it. */
const hopsOf = (run: OpenLoop): Map<string, number>[] => {
  const byFn = new Map<string, Map<string, Trace & { index: number }>>();
  for (const t of run.traces) {
    const map = byFn.get(t.fn) ?? new Map();
    t.keys.forEach((key, index) => {
      if (!map.has(key)) map.set(key, { ...t, index });
    });
    byFn.set(t.fn, map);
  }
  const get = (fn: string, key: string) => byFn.get(fn)?.get(key);
  return run.sent.flatMap((s) => {
    if (!s.key || !s.id || s.answered === undefined) return [];
    const send = get('send', s.key);
    const store = get('store', s.key);
    const push = get('push', s.key);
    const storeFetch = get('fetch:processNotifications', s.key);
    const pushFetch = get('fetch:pushNotifications', s.key);
    const t = new Map<string, number>([
      ['sent', s.sent],
      ['answered', s.answered],
    ]);
    const set = (name: string, value: number | undefined) => {
      if (value !== undefined) t.set(name, value);
    };
    set('handlerStart', send?.marks.start);
    set('acked', send?.marks.acked);
    set('handlerEnd', send?.marks.end);
    set('appended', store?.appended?.[store.index] ?? push?.appended?.[push.index]);
    set('storeFetched', storeFetch?.marks.fetched);
    set('storeInvoked', store?.marks.start);
    set('stored', store?.marks.end);
    set('pushFetched', pushFetch?.marks.fetched);
    set('pushInvoked', push?.marks.start);
    set('posted', push?.marks.end);
    set('framed', run.framedAt.get(s.id));
    set('polled', run.polledAt.get(s.id));
    return [t];
  });
};

/** The hops of the budget: [label, from, to]. */
const HOPS = [
  [
    'HTTP: client sent -> handler start (serverless-offline, limits plugin, worker thread)',
    'sent',
    'handlerStart',
  ],
  [
    'HTTP: handler start -> Kafka acknowledged (token, validation, publish)',
    'handlerStart',
    'acked',
  ],
  ['HTTP: Kafka acknowledged -> handler returns (answer, log line)', 'acked', 'handlerEnd'],
  ['HTTP: handler returns -> answer at the client', 'handlerEnd', 'answered'],
  ['HTTP: whole POST', 'sent', 'answered'],
  ['store: appended -> fetched by the emulator', 'appended', 'storeFetched'],
  ['store: fetched -> function invoked', 'storeFetched', 'storeInvoked'],
  ['store: invoked -> stored (handler end)', 'storeInvoked', 'stored'],
  ['push: appended -> fetched by the emulator', 'appended', 'pushFetched'],
  ['push: fetched -> function invoked', 'pushFetched', 'pushInvoked'],
  ['push: invoked -> WebSocket frame at the client', 'pushInvoked', 'framed'],
  ['push: invoked -> handler end (posts answered)', 'pushInvoked', 'posted'],
  ['end to end: sent -> WebSocket frame', 'sent', 'framed'],
  ['end to end: sent -> stored', 'sent', 'stored'],
  ['end to end: sent -> first seen in GET (polled at most every 50 ms)', 'sent', 'polled'],
] as const;

const hopValues = (hops: Map<string, number>[], from: string, to: string): number[] =>
  hops.flatMap((h) => {
    const a = h.get(from);
    const b = h.get(to);
    return a === undefined || b === undefined ? [] : [b - a];
  });

// --- the figure --------------------------------------------------------------------------------

interface Sizes {
  readonly rate: number;
  readonly seconds: number;
  readonly warmupS: number;
  readonly closedS: number;
  readonly rounds: number;
}

interface RoundResult {
  readonly path: string;
  readonly open: OpenLoop;
  readonly closed: ClosedLoop;
  readonly hops: Map<string, number>[];
}

interface Bench {
  readonly paths: Path[];
  readonly brokers: readonly string[];
  close(): Promise<void>;
}

const runRound = async (path: Path, brokers: readonly string[], sizes: Sizes, port: number) => {
  say(`${path.name}: starting sls offline`);
  const tokens = new Map(
    await Promise.all(DEFAULT_USERS.map(async (u) => [u.id, await tokenFor(u.id)] as const)),
  );
  const stack = await startStack(path, brokers, port);
  const sockets = new Map<number, TestSocket>();
  try {
    for (const user of DEFAULT_USERS) {
      sockets.set(user.id, await openSocket(stack.websocketUrl, protocolsFor(tokens.get(user.id))));
    }
    say(`${path.name}: warming up`);
    for (const r of [0.2, 0.5, 1]) {
      await openLoop(stack, tokens, sockets, sizes.rate * r, sizes.warmupS / 3, false);
    }
    say(`${path.name}: ${sizes.rate}/s for ${sizes.seconds} s (open loop)`);
    const open = await openLoop(stack, tokens, sockets, sizes.rate, sizes.seconds, true);
    for (const socket of sockets.values()) await socket.close();
    sockets.clear();
    say(`${path.name}: ${CLOSED_LOOP_CLIENTS} clients for ${sizes.closedS} s (closed loop)`);
    const closed = await closedLoop(stack, tokens, sizes.closedS);
    return { path: path.name, open, closed, hops: hopsOf(open) };
  } finally {
    for (const socket of sockets.values()) await socket.close();
    await stack.stop();
  }
};

const drive = async ({ paths, brokers }: Bench, sizes: Sizes): Promise<RoundResult[]> => {
  const results: RoundResult[] = [];
  for (let round = 0; round < sizes.rounds; round++) {
    for (let i = 0; i < paths.length; i++) {
      const path = paths[(i + round) % paths.length] as Path;
      // Ports of their own each time: the previous service's may not be free again yet.
      const port = HTTP_PORT + 10 * ((round * paths.length + i) % 20);
      results.push(await runRound(path, brokers, sizes, port));
    }
  }
  return results;
};

const perNotification = (cpu: CpuSample, n: number) => ({
  offlineMain: cpu.offlineMain / n,
  offlineOther: cpu.offlineOther / n,
  store: cpu.store / n,
  broker: cpu.broker / n,
});

const report = (results: RoundResult[], bench: Bench, sizes: Sizes) => {
  const rows: Row[] = [];
  const figure = 'latency budget';
  const paths = bench.paths.map((p) => p.name);
  const of = (path: string) => results.filter((r) => r.path === path);
  const [ours, ...others] = paths;
  /**
   * A metric per round for each path: this checkout's row, against each other path in turn (one
   * row per other path), or alone.
   */
  const row = (
    metric: string,
    value: (r: RoundResult) => number | undefined,
    extra: Partial<Row> = {},
  ) => {
    const values = (path: string | undefined) =>
      path === undefined
        ? []
        : of(path)
            .map(value)
            .filter((v): v is number => v !== undefined && Number.isFinite(v));
    const a = values(ours);
    if (a.length === 0) return;
    const against = others.filter((o) => values(o).length > 0);
    for (const baseline of against.length ? against : [undefined]) {
      const b = values(baseline);
      rows.push({
        figure,
        metric,
        oursLabel: 'this checkout',
        ours: summarize(a),
        ...(baseline && b.length
          ? { baselineLabel: baseline, baseline: summarize(b), ratio: median(a) / median(b) }
          : {}),
        status: 'info',
        ...extra,
      });
    }
  };
  for (const [label, from, to] of HOPS) {
    for (const p of [50, 99] as const) {
      row(`${label}, p${p} (ms)`, (r) => {
        const v = hopValues(r.hops, from, to);
        return v.length ? percentile(v, p) : undefined;
      });
    }
  }
  row('GET /me/notifications answer p50 (ms), under the open loop', (r) => median(r.open.getMs));
  const accepted = (r: RoundResult) => r.open.sent.filter((s) => s.status === 202).length;
  for (const [key, label] of [
    ['offlineMain', "sls offline's main thread"],
    ['offlineOther', "sls offline's other threads (functions' workers, GC, libuv)"],
    ['store', 'the store (dynalite)'],
    ['broker', 'the broker (JVM)'],
  ] as const) {
    row(
      `CPU ms per notification at ${sizes.rate}/s: ${label}`,
      (r) => perNotification(r.open.cpu, accepted(r))[key],
    );
  }
  row(
    `CPU cores used at ${sizes.rate}/s, broker excluded`,
    (r) =>
      (r.open.cpu.offlineMain + r.open.cpu.offlineOther + r.open.cpu.store) / 1000 / r.open.seconds,
  );
  row(
    `closed loop (${CLOSED_LOOP_CLIENTS} clients): POST/s`,
    (r) => r.closed.accepted / r.closed.seconds,
    {
      goal: '>= 1,200 POST/s',
    },
  );
  row(
    `closed loop: CPU s per 1,000 POSTs, broker excluded`,
    (r) =>
      (r.closed.cpu.offlineMain + r.closed.cpu.offlineOther + r.closed.cpu.store) /
      r.closed.accepted,
    { goal: '<= 1.2 s' },
  );
  row(
    'closed loop: of which sls offline main thread (s per 1,000)',
    (r) => r.closed.cpu.offlineMain / r.closed.accepted,
  );
  row(
    'closed loop: of which sls offline other threads (s per 1,000)',
    (r) => r.closed.cpu.offlineOther / r.closed.accepted,
  );
  row(
    'closed loop: of which the store (s per 1,000)',
    (r) => r.closed.cpu.store / r.closed.accepted,
  );
  row(
    'closed loop: the broker (s per 1,000, not in the goal)',
    (r) => r.closed.cpu.broker / r.closed.accepted,
  );
  const counts = results.map((r) => {
    const ok = accepted(r);
    return `${r.path}: ${ok}/${r.open.sent.length} accepted, ${r.open.framedAt.size} framed, ${r.open.polledAt.size} polled, ${r.hops.filter((h) => h.has('stored')).length} traced to the store, ${r.open.throttled} throttled; closed loop ${r.closed.accepted} accepted, ${r.closed.failed} failed in ${fmt(r.closed.seconds)} s`;
  });
  return {
    id: 'latency-budget',
    title: 'Latency budget per hop, and CPU per notification',
    rows,
    facts: [
      `${sizes.rounds} rounds per path (${paths.join(', ')}), alternating; each round a fresh \`sls offline start\` (both consumers, batching window 0), ${sizes.warmupS} s of ramped warm-up, ${sizes.seconds} s at ${sizes.rate} notifications/s to the four users in turn, each with an open WebSocket and a poller, then ${sizes.closedS} s of ${CLOSED_LOOP_CLIENTS} clients posting back to back. Medians over rounds; in brackets the min-max over rounds.`,
      `Counts: ${counts.join('; ')}.`,
      "Hop times come from the functions' and the emulator's trace lines (LATENCY_TRACE=true) and the broker's append time (whole milliseconds, so hops from \"appended\" are +-1 ms); CPU from /proc (10 ms ticks).",
    ],
  };
};

export const measureLatencyBudget = defineFigure<Sizes, Bench, RoundResult[]>({
  sizes: ({ quick }) => ({
    rate: numberOption('--rate') ?? 50,
    seconds: numberOption('--seconds') ?? (quick ? 5 : 20),
    warmupS: numberOption('--warmup') ?? (quick ? 3 : 9),
    closedS: numberOption('--closed-seconds') ?? (quick ? 3 : 10),
    rounds: numberOption('--rounds') ?? (quick ? 1 : 2),
  }),
  setup: async () => ({
    // `--only <path>`: that path alone (for a CPU profile of it).
    paths: pathsToMeasure().filter((p) => !parseOptions().only || p.name === parseOptions().only),
    brokers: await localBrokers(),
    close: async () => undefined,
  }),
  drive,
  report,
});

await runFigure(import.meta.url, measureLatencyBudget);
