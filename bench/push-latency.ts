import { randomUUID } from 'node:crypto';
import { DEFAULT_USERS } from '../shared/models/index.js';
import type { ServerMessage } from '../shared/realtime/messages.js';
import { tokenFor } from '../tests/helpers/api-client.js';
import { localBrokers } from '../tests/helpers/kafka.js';
import { type Stack, startStack } from '../tests/helpers/stack.js';
import { openSocket, protocolsFor, type TestSocket } from '../tests/helpers/websocket.js';
import { defineFigure, runFigure, say } from './lib/figure.js';
import type { Row } from './lib/results.js';
import { percentile, summarize } from './lib/stats.js';

/**
 * Real time against polling: from `POST /notifications` being sent to the notification arriving
 * on the recipient's open WebSocket (pushed by the second consumer), beside the time to first
 * see it by polling `GET /me/notifications` every 100 ms, measured on the same notifications in
 * the same run. At 50 and 100 notifications/s, with the pushing consumer's batching window at 0
 * (this project's default) and at AWS's default for Kafka (0.5 s: `--param pushBatchingWindow=default`).
 * The whole service runs under `sls offline start` on the local broker and dynalite.
 */

const HTTP_PORT = 3500;
const POLL_INTERVAL_MS = 100;
/** A poll's page: several times what a user receives between two polls at the highest rate. */
const POLL_LIMIT = 40;
const RATES = [50, 100] as const;
const WINDOWS = [
  { label: 'window 0', param: '0' },
  { label: "window AWS's default (0.5 s)", param: 'default' },
] as const;

interface Sizes {
  readonly durationS: number;
  readonly warmupS: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** What one run at one rate saw, per notification: sent, pushed, polled (performance.now()). */
interface Timings {
  readonly sentAt: Map<string, number>;
  readonly pushedAt: Map<string, number>;
  readonly polledAt: Map<string, number>;
  /** Requests not accepted, by what they got (`HTTP 503`, or the fetch error's message). */
  readonly failures: Map<string, number>;
  /** Invocations the offline gateway refused past a function's concurrency limit (as Lambda throttles). */
  throttled: number;
}

/** One open-loop run: POST at `ratePerS` for `durationS`, the four users in turn. */
const drive = async (
  stack: Stack,
  sockets: ReadonlyMap<number, TestSocket>,
  tokens: ReadonlyMap<number, string>,
  ratePerS: number,
  durationS: number,
): Promise<Timings> => {
  const timings: Timings = {
    sentAt: new Map(),
    pushedAt: new Map(),
    polledAt: new Map(),
    failures: new Map(),
    throttled: 0,
  };
  const stopHearing = stack.offline.onLine((line) => {
    if (/ throttled: /.test(line)) timings.throttled++;
  });
  const listeners = [...sockets.values()].map((socket) => {
    const hear = (data: unknown) => {
      const message = JSON.parse(String(data)) as ServerMessage;
      // One notification, or several of one batch in one message (NotificationsPush).
      const carried =
        message.type === 'notification'
          ? [message.notification]
          : message.type === 'notifications'
            ? message.notifications
            : [];
      for (const { id } of carried) {
        if (!timings.pushedAt.has(id)) timings.pushedAt.set(id, performance.now());
      }
    };
    socket.socket.on('message', hear);
    return () => socket.socket.off('message', hear);
  });
  let polling = true;
  const pollers = DEFAULT_USERS.map(async (user) => {
    while (polling) {
      const started = performance.now();
      try {
        const response = await fetch(`${stack.base}/me/notifications?limit=${POLL_LIMIT}`, {
          headers: { authorization: `Bearer ${tokens.get(user.id)}` },
        });
        const body = (await response.json()) as { notifications?: { id: string }[] };
        const at = performance.now();
        for (const { id } of body.notifications ?? []) {
          if (!timings.polledAt.has(id)) timings.polledAt.set(id, at);
        }
      } catch {
        // A failed poll sees nothing; the next one will.
      }
      await sleep(POLL_INTERVAL_MS - (performance.now() - started));
    }
  });
  const total = ratePerS * durationS;
  const start = performance.now();
  const posts: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    await sleep(start + (i * 1000) / ratePerS - performance.now());
    const to = DEFAULT_USERS[i % DEFAULT_USERS.length]?.id ?? 1;
    const from = DEFAULT_USERS[(i + 1) % DEFAULT_USERS.length]?.id ?? 2;
    const sent = performance.now();
    posts.push(
      fetch(`${stack.base}/notifications`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${tokens.get(from)}`,
        },
        body: JSON.stringify({ toId: to, message: `bench ${randomUUID()}` }),
      })
        .then(async (response) => {
          const { id } = (await response.json()) as { id?: string };
          if (response.status !== 202 || !id) throw new Error(`HTTP ${response.status}`);
          timings.sentAt.set(id, sent);
        })
        .catch((error: unknown) => {
          const why = error instanceof Error ? error.message : String(error);
          timings.failures.set(why, (timings.failures.get(why) ?? 0) + 1);
        }),
    );
  }
  await Promise.all(posts);
  // Until every accepted one was pushed and polled, or 15 s.
  const deadline = performance.now() + 15_000;
  const done = () =>
    [...timings.sentAt.keys()].every((id) => timings.pushedAt.has(id) && timings.polledAt.has(id));
  while (!done() && performance.now() < deadline) await sleep(100);
  polling = false;
  await Promise.all(pollers);
  for (const off of listeners) off();
  stopHearing();
  return timings;
};

const latencies = (timings: Timings, seen: Map<string, number>): number[] =>
  [...timings.sentAt].flatMap(([id, sent]) => {
    const at = seen.get(id);
    return at === undefined ? [] : [at - sent];
  });

/** `none failed`, or how many failed and why. */
const failed = ({ failures, throttled }: Timings): string =>
  failures.size === 0
    ? 'none failed'
    : `${[...failures.values()].reduce((a, b) => a + b, 0)} failed: ${[...failures]
        .map(([why, n]) => `${n} ${why}`)
        .join(', ')}; ${throttled} invocations throttled by the offline concurrency limit`;

type Samples = { window: string; ratePerS: number; timings: Timings }[];

interface Bench {
  readonly runs: Samples;
  close(): Promise<void>;
}

export const measurePushLatency = defineFigure<Sizes, Bench, Samples>({
  sizes: ({ quick }) => (quick ? { durationS: 3, warmupS: 1 } : { durationS: 20, warmupS: 5 }),
  // Each window needs its own `sls offline start`: setup only finds the brokers.
  setup: async () => ({ runs: [], close: async () => undefined }),
  drive: async (bench, { durationS, warmupS }) => {
    const brokers = await localBrokers();
    const tokens = new Map(
      await Promise.all(DEFAULT_USERS.map(async (u) => [u.id, await tokenFor(u.id)] as const)),
    );
    for (const [i, window] of WINDOWS.entries()) {
      say(`${window.label}: starting the service`);
      const stack = await startStack({
        brokers,
        // Ports of their own: the previous service's may not be free again yet.
        httpPort: HTTP_PORT + 10 * i,
        // The push path alone: no per-sender limit at 100 notifications/s from four users.
        params: { pushBatchingWindow: window.param, sendRateLimit: '0' },
        // Another esbuild work folder: a developer's `npm start` may be using .esbuild.
        env: { ESBUILD_WORK_FOLDER: '.local/bench/esbuild-push' },
      });
      const sockets = new Map<number, TestSocket>();
      try {
        for (const user of DEFAULT_USERS) {
          sockets.set(
            user.id,
            await openSocket(stack.websocketUrl, protocolsFor(tokens.get(user.id))),
          );
        }
        say(`${window.label}: warming up`);
        await drive(stack, sockets, tokens, RATES[0], warmupS);
        for (const ratePerS of RATES) {
          say(`${window.label}: ${ratePerS}/s for ${durationS} s`);
          bench.runs.push({
            window: window.label,
            ratePerS,
            timings: await drive(stack, sockets, tokens, ratePerS, durationS),
          });
        }
      } finally {
        for (const socket of sockets.values()) await socket.close();
        await stack.stop();
      }
    }
    return bench.runs;
  },
  report: (runs, _bench, { durationS }) => {
    const figure = 'push latency';
    const rows: Row[] = runs.flatMap(({ window, ratePerS, timings }) => {
      const pushed = latencies(timings, timings.pushedAt);
      const polled = latencies(timings, timings.polledAt);
      return ([50, 99] as const).map((p): Row => {
        const ours = percentile(pushed, p);
        const baseline = percentile(polled, p);
        return {
          figure,
          metric: `p${p} (ms), ${ratePerS}/s, ${window}`,
          oursLabel: 'POST to WebSocket message',
          ours: summarize([ours]),
          baselineLabel: `first seen polling GET every ${POLL_INTERVAL_MS} ms`,
          baseline: summarize([baseline]),
          ratio: ours / baseline,
          status: 'info',
        };
      });
    });
    const counts = runs.map(
      ({ window, ratePerS, timings }) =>
        `${window}, ${ratePerS}/s: ${timings.sentAt.size} accepted (${failed(timings)}), ${latencies(timings, timings.pushedAt).length} pushed, ${latencies(timings, timings.polledAt).length} seen by polls`,
    );
    return {
      id: 'push-latency',
      title: 'Real time: push against polling',
      rows,
      facts: [
        `Open loop for ${durationS} s per rate, after a warm-up; the four users in turn, each with one open WebSocket and one poller. ${counts.join('; ')}.`,
        'The pushing consumer is the second Kafka consumer (its own group, processNotifications storing in parallel); polling needs the storing consumer, whose batching window is the stage default (0.5 s offline, as on AWS). A poll only sees what is stored: its figure includes the storing path and up to 100 ms of polling.',
      ],
    };
  },
});

await runFigure(import.meta.url, measurePushLatency);
