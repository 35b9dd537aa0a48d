import { Partitioners } from 'kafkajs';
import { SESSION_LIMITS } from '../shared/realtime/limits.js';
import { median, openSessions, pushLatency, selfFlood } from '../tests/helpers/abuse.js';
import { tokenFor } from '../tests/helpers/api-client.js';
import { localBrokers } from '../tests/helpers/kafka.js';
import { type Stack, startStack } from '../tests/helpers/stack.js';
import { openSocket, protocolsFor, type TestSocket } from '../tests/helpers/websocket.js';
import { defineFigure, runFigure, say } from './lib/figure.js';
import { compareRow, type Row } from './lib/results.js';
import { summarize } from './lib/stats.js';

/**
 * Issue 18's attacks, measured (tests/e2e/abuse.test.ts asserts the same criterion with fewer
 * rounds). Finding 1: one user opens hundreds of WebSocket sessions and sends themself 100
 * notifications a request; another user on the same partition gets their push how much later
 * than unloaded? Alternating rounds, quiet then attacked, so that both see the same machine.
 * Finding 2: one user sends 500-notification requests as fast as they are answered for a while:
 * how many notifications the service takes from them (the per-sender limit), and what the
 * refused requests get.
 */

const HTTP_PORT = 3600;
const EMMA = 1;
const BRUNO = 2;
const RICK = 3;
const LENA = 4;

interface Sizes {
  readonly rounds: number;
  readonly sessions: number;
  readonly floodS: number;
}

interface Samples {
  readonly unloaded: number[];
  /** The victim's pushes over a sustained attack (the attacker as fast as it is answered). */
  readonly sustained: number[];
  /** The victim's pushes sent the moment a 100-notification request is answered. */
  readonly loaded: number[];
  readonly sessions: { opened: number; refused: number; open: number };
  readonly flood: { requests: number; accepted: number; refused: number; retryAfter: string[] };
}

interface Bench {
  readonly stack: Stack;
  readonly sockets: TestSocket[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const partitionOf = (userId: number): number =>
  Partitioners.DefaultPartitioner()({
    topic: 'notifications',
    partitionMetadata: [0, 1, 2].map((partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
    })),
    message: { key: String(userId), value: null },
  });

export const measureAbuse = defineFigure<Sizes, Bench, Samples>({
  sizes: ({ quick }) =>
    quick ? { rounds: 3, sessions: 40, floodS: 3 } : { rounds: 15, sessions: 200, floodS: 15 },
  setup: async () => {
    const stack = await startStack({
      brokers: await localBrokers(),
      httpPort: HTTP_PORT,
      storeProcess: true,
      env: { ESBUILD_WORK_FOLDER: '.local/bench/esbuild-abuse' },
    });
    const sockets: TestSocket[] = [];
    return {
      stack,
      sockets,
      close: async () => {
        await Promise.all(sockets.map((s) => s.close()));
        await stack.stop();
      },
    };
  },
  drive: async ({ stack, sockets }, { rounds, sessions: sessionCount, floodS }) => {
    const attacker = BRUNO;
    const victim = RICK;
    if (partitionOf(attacker) !== partitionOf(victim)) throw new Error('not one partition');
    const watcher = await openSocket(stack.websocketUrl, protocolsFor(await tokenFor(victim)));
    sockets.push(watcher);
    const latency = () => pushLatency(stack.base, EMMA, victim, watcher);
    say('warming up');
    for (let i = 0; i < 5; i++) await latency();

    say(`finding 1: the attacker opens ${sessionCount} sessions`);
    const { opened, refused } = await openSessions(stack.websocketUrl, attacker, sessionCount);
    sockets.push(...opened);
    await sleep(2_000);
    const open = opened.filter((s) => s.socket.readyState === s.socket.OPEN).length;
    say(`finding 1: a sustained attack for ${floodS} s`);
    const sustained: number[] = [];
    let attacking = true;
    const attack = (async () => {
      while (attacking) {
        const status = (await selfFlood(stack.base, attacker, 100)).status;
        if (status === 429) await sleep(500);
      }
    })();
    const ends = Date.now() + floodS * 1000;
    while (Date.now() < ends) {
      sustained.push(await latency());
      await sleep(300);
    }
    attacking = false;
    await attack;
    const unloaded: number[] = [];
    const loaded: number[] = [];
    for (let round = 0; round < rounds; round++) {
      say(`finding 1: round ${round + 1} of ${rounds}`);
      await sleep(1_000);
      unloaded.push(await latency());
      await sleep(200);
      // 100 a request, as the review's attack; the per-sender limit (600 a minute) would refuse
      // more than six such requests a minute: the flood waits for a new window when it must.
      const burst = await selfFlood(stack.base, attacker, 100);
      if (burst.status === 429) {
        await sleep(Number(burst.headers.get('retry-after') ?? '1') * 1000);
        await selfFlood(stack.base, attacker, 100);
      }
      loaded.push(await latency());
    }

    say(`finding 2: Lena sends 500 a request for ${floodS} s`);
    const flood = { requests: 0, accepted: 0, refused: 0, retryAfter: [] as string[] };
    const token = await tokenFor(LENA);
    const body = JSON.stringify(
      Array.from({ length: 500 }, (_, i) => ({ toId: EMMA, message: `Flood ${i}` })),
    );
    const until = Date.now() + floodS * 1000;
    while (Date.now() < until) {
      const answer = await fetch(`${stack.base}/notifications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      await answer.arrayBuffer();
      flood.requests++;
      if (answer.status === 202) flood.accepted += 500;
      else if (answer.status === 429) {
        flood.refused++;
        flood.retryAfter.push(answer.headers.get('retry-after') ?? '');
      } else throw new Error(`the flood got ${answer.status}`);
    }
    return {
      unloaded,
      sustained,
      loaded,
      sessions: { opened: opened.length, refused, open },
      flood,
    };
  },
  report: ({ unloaded, sustained, loaded, sessions, flood }, _bench, { rounds, floodS }) => {
    const rows: Row[] = [
      compareRow({
        figure: 'push latency under attack',
        metric: 'victim push (ms)',
        oursLabel: `over a sustained attack (${sessions.opened + sessions.refused} sessions, 100 self-notifications a request as fast as answered)`,
        baselineLabel: 'the same victim, unloaded',
        ours: sustained,
        baseline: unloaded,
        goal: { atMost: 2 },
      }),
      compareRow({
        figure: 'push latency under attack',
        metric: 'victim push (ms), right behind a burst',
        oursLabel: 'sent the moment 100 self-notifications are answered',
        baselineLabel: 'the same victim, unloaded',
        ours: loaded,
        baseline: unloaded,
      }),
      {
        figure: 'per-sender limit',
        metric: `notifications taken from one sender in ${floodS} s`,
        oursLabel: 'accepted (500 a request, as fast as answered)',
        ours: summarize([flood.accepted]),
        status: 'info',
      },
    ];
    return {
      id: 'abuse',
      title: 'Abuse: one user against the others (issue 18)',
      rows,
      facts: [
        `Finding 1: ${rounds} alternating rounds, each a quiet push to the victim then one right after the attacker's 100 self-notifications; the attacker on the victim's partition, its sessions opened 8 at a time first: ${sessions.opened} opened, ${sessions.refused} refused while opening (429 displaced, 502 throttled), ${sessions.open} left open (limit ${SESSION_LIMITS.PER_USER}). Medians: unloaded ${median(unloaded).toFixed(0)} ms, over a ${floodS} s sustained attack ${median(sustained).toFixed(0)} ms, right behind a burst ${median(loaded).toFixed(0)} ms (it waits for that one batch of the pushing consumer).`,
        `Finding 2: ${flood.requests} requests of 500 in ${floodS} s from one sender: ${flood.accepted} notifications accepted, ${flood.refused} requests refused with 429 (Retry-After ${[...new Set(flood.retryAfter)].join(', ') || '-'} s); the limit is 600 a minute per sender (serverless.yml sendRateLimit).`,
      ],
    };
  },
});

await runFigure(import.meta.url, measureAbuse);
