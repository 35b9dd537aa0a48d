import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
import { INTERNAL_SERVER_ERROR } from '../../plugins/serverless-offline-limits/src/limits.js';
import { loadConfig } from '../../shared/config.js';
import { SERIAL_PRODUCER_DEFAULTS } from '../../shared/kafka/producer.js';
import { DEFAULT_USERS } from '../../shared/models/index.js';
import type { ServerMessage } from '../../shared/realtime/messages.js';
import { tokenFor } from './api-client.js';
import type { TestCluster } from './cluster.js';
import type { FaultStack } from './fault-stack.js';
import { type Placed, readTopic } from './kafka.js';
import { type Audit, audit, type Outcome, startLoad } from './load.js';
import { until } from './wait.js';
import { openSocket, protocolsFor, type TestSocket } from './websocket.js';

/**
 * The three cluster scenarios of issue 17 (MSK's rolling patch, a leader killed, two of three
 * nodes down), each run under a steady load of POST /send against a fault stack on a three-node
 * cluster, and counted: for the fault tests (tests/faults/cluster.test.ts) and the reliability
 * benchmark alike. Nothing here depends on the test runner.
 */

const REFUSE_AFTER_FAILURE_MS = SERIAL_PRODUCER_DEFAULTS.REFUSE_AFTER_FAILURE_MS;

/** A 503 slower than this (the send deadline, and 0.5 s to answer) is counted as slow. */
export const MAX_503_MS = loadConfig({}).kafka.sendTimeoutMs + 500;

const users = DEFAULT_USERS.map((u) => u.id);

/** POST /send number `index`: from one demo user to the next, with its own Idempotency-Key. */
export const clusterLoadRequest = (index: number): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
  body: JSON.stringify({
    fromID: users[index % users.length],
    toID: users[(index + 1) % users.length],
    message: `cluster load ${index}`,
  }),
});

/** What a scenario did, in `performance.now()` milliseconds. */
export interface Marks {
  /** When the fault began (the first node stopped or killed). */
  faultAt: number;
  /** When the cluster no longer refuses writes for the fault (a new leader elected), if it did. */
  settledAt?: number;
  /** When the last node was back (started again). */
  returnedAt: number;
}

export interface ClusterScenario {
  readonly name: string;
  /** Breaks the cluster and repairs it; resolves when every node is back. */
  readonly run: (cluster: TestCluster, topics: readonly string[]) => Promise<Marks>;
}

/** MSK's patching: each node in turn stopped gracefully and started, back in sync before the next. */
export const ROLLING_RESTART: ClusterScenario = {
  name: 'rolling restart (graceful, one node at a time)',
  run: async (cluster, topics) => {
    const faultAt = performance.now();
    for (const node of cluster.local.nodes) {
      await cluster.stop(node.id);
      await cluster.start(node.id);
      await cluster.inSync(topics);
    }
    return { faultAt, returnedAt: performance.now() };
  },
};

/** The leader of partition 0 killed (SIGKILL), then started again after `downMs`. */
export const leaderKilled = (downMs: number): ClusterScenario => ({
  name: 'leader of partition 0 killed (SIGKILL)',
  run: async (cluster, topics) => {
    const [topic = ''] = topics;
    const leader = await cluster.leaderOf(topic, 0);
    if (leader === null) throw new Error(`${topic}-0 has no leader to kill`);
    const faultAt = performance.now();
    await cluster.stop(leader, { kill: true });
    await until(
      async () => ![leader, null].includes(await cluster.leaderOf(topic, 0)),
      30_000,
      `a new leader for ${topic}-0`,
      100,
    );
    const settledAt = performance.now();
    await sleep(Math.max(0, downMs - (settledAt - faultAt)));
    const returnedAt = performance.now();
    await cluster.start(leader);
    await cluster.inSync(topics);
    return { faultAt, settledAt, returnedAt };
  },
});

/**
 * Two of three nodes down, below min.insync.replicas: one stopped gracefully (in maintenance),
 * then another killed, which also loses the controller quorum. After `downMs` the killed one comes
 * back (writes resume with two in sync), then the other.
 */
export const twoDown = (downMs: number, untilWrites: () => Promise<void>): ClusterScenario => ({
  name: 'two of three nodes down (below min.insync.replicas)',
  run: async (cluster, topics) => {
    const [topic = ''] = topics;
    const leader = (await cluster.leaderOf(topic, 0)) ?? 1;
    const other = cluster.local.nodes.map((n) => n.id).find((id) => id !== leader) ?? 2;
    const faultAt = performance.now();
    await cluster.stop(other);
    await cluster.stop(leader, { kill: true });
    await sleep(downMs);
    const firstBackAt = performance.now();
    await cluster.start(leader);
    await untilWrites();
    const settledAt = performance.now();
    await cluster.start(other);
    await cluster.inSync(topics);
    return { faultAt, settledAt: Math.max(settledAt, firstBackAt), returnedAt: performance.now() };
  },
});

/** One WebSocket session per user, counting the notification ids pushed to it. */
export interface Sessions {
  /** Notification ids pushed to `userId`'s session. */
  pushedTo(userId: number): ReadonlySet<string>;
  /**
   * Older notifications a batch's message did not carry (`skipped`: the client reads its inbox
   * again), summed over `userId`'s messages.
   */
  skippedTo(userId: number): number;
  /** When (`performance.now()`) each notification id was first pushed, to any session. */
  readonly firstPushAt: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

/**
 * The notifications a message carries: one, or several of one batch in one message (a recipient
 * with more than one record in the pushing consumer's batch gets a NotificationsPush).
 */
const carriedBy = (message: ServerMessage): readonly { readonly id: string }[] =>
  message.type === 'notification'
    ? [message.notification]
    : message.type === 'notifications'
      ? message.notifications
      : [];

export const openSessions = async (websocketUrl: string): Promise<Sessions> => {
  const sockets = new Map<number, TestSocket>();
  const firstPushAt = new Map<string, number>();
  for (const userId of users) {
    const session = await openSocket(websocketUrl, protocolsFor(await tokenFor(userId)));
    session.socket.on('message', (data) => {
      for (const { id } of carriedBy(JSON.parse(String(data)) as ServerMessage)) {
        if (!firstPushAt.has(id)) firstPushAt.set(id, performance.now());
      }
    });
    sockets.set(userId, session);
  }
  return {
    firstPushAt,
    pushedTo: (userId) =>
      new Set((sockets.get(userId)?.received ?? []).flatMap((m) => carriedBy(m).map((n) => n.id))),
    skippedTo: (userId) =>
      (sockets.get(userId)?.received ?? []).reduce(
        (sum, m) => sum + (m.type === 'notifications' ? m.skipped : 0),
        0,
      ),
    close: async () => {
      await Promise.all([...sockets.values()].map((s) => s.close()));
    },
  };
};

/** Records a group has yet to commit on `topic`, summed over its partitions. */
export const lagOf = async (admin: Admin, groupId: string, topic: string): Promise<number> => {
  const [ends, [committed]] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  return ends.reduce((sum, p) => {
    const done = at.get(p.partition) ?? -1n;
    return sum + Number(BigInt(p.high) - (done < 0n ? BigInt(p.low) : done));
  }, 0);
};

export interface ScenarioResult {
  readonly name: string;
  readonly audit: Audit;
  /** 503s; those among them without a Retry-After; those slower than `MAX_503_MS`. */
  readonly refused: number;
  readonly withoutRetryAfter: number;
  readonly slowRefusals: readonly number[];
  /** 503s of requests sent after the cluster had settled (and the failures under way ended). */
  readonly lateRefusals: number;
  /**
   * 500s of the offline gateway: a function throttled past its concurrency (32 offline) or timed out, as AWS's
   * HTTP API answers it. They measure the machine (each request slower than 32/rate seconds on a
   * starved CPU), not Kafka: on AWS a function's concurrency is 1,000 by default.
   */
  readonly throttled: number;
  /** Requests with no answer within the load's 15 s (a machine too busy to serve them). */
  readonly unanswered: number;
  /** Answers other than 202, 503 and the gateway's 500s: 500s of the function, 4xx. */
  readonly other: readonly string[];
  /** Records in Kafka that the inbox does not hold (acknowledged or not). */
  readonly skipped: readonly string[];
  /** 202s that the recipient's open session was never pushed. */
  readonly unpushed: readonly string[];
  /** From the fault to the first 503 (of a request sent after it). */
  readonly first503Ms: number | undefined;
  /** From the last node's return to the first moment both consumers' lag is 0. */
  readonly lagZeroMs: number | undefined;
  /** From the first node back (settled) or the fault's end to the first 202 sent after it. */
  readonly recoverMs: number | undefined;
  /** POST /send latency of the 202s. */
  readonly accepted: readonly number[];
}

export interface ScenarioOptions {
  readonly stack: FaultStack;
  readonly cluster: TestCluster;
  readonly sessions: Sessions;
  readonly scenario: ClusterScenario;
  readonly ratePerSecond: number;
  /** Load before the fault, and after the last node is back. */
  readonly beforeMs: number;
  readonly afterMs: number;
  /** Every outcome of earlier scenarios on this stack (duplicates are looked for across all). */
  readonly earlier: Outcome[];
  /** Longest to wait for the consumers to store and push everything. */
  readonly settleMs?: number;
  /** Called when the load stops, before the consumers' lag is awaited (to stop a load beside it). */
  readonly onLoadStop?: () => void;
}

/** One line a person can read: what a scenario counted. */
export const summaryOf = (r: ScenarioResult): string => {
  const ms = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v)} ms`);
  const sorted = [...r.accepted].sort((a, b) => a - b);
  const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return `${r.name}: sent ${r.audit.sent}, 202 ${r.audit.accepted}, stored once ${r.audit.storedOnce}, duplicates ${r.audit.duplicates.length}, lost ${r.audit.lost.length + r.audit.misplaced.length}, 503 ${r.refused} (late ${r.lateRefusals}, without Retry-After ${r.withoutRetryAfter}, slow ${r.slowRefusals.length}), throttled ${r.throttled}, unanswered ${r.unanswered}, other ${r.other.length}, skipped ${r.skipped.length}, unpushed ${r.unpushed.length}; first 503 ${ms(r.first503Ms)}, recover ${ms(r.recoverMs)}, lag 0 ${ms(r.lagZeroMs)}, 202 p50 ${ms(p(0.5))} p99 ${ms(p(0.99))}`;
};

/** Runs one scenario under load and counts what happened to every request. */
export const runClusterScenario = async ({
  stack,
  cluster,
  sessions,
  scenario,
  ratePerSecond,
  beforeMs,
  afterMs,
  earlier,
  settleMs = 90_000,
  onLoadStop,
}: ScenarioOptions): Promise<ScenarioResult> => {
  const topics = [stack.topic, `${stack.topic}.dlq`];
  let stop = false;
  const load = startLoad({
    url: `${stack.base}/send`,
    ratePerSecond,
    request: clusterLoadRequest,
    done: () => stop,
    maxDurationMs: 10 * 60_000,
  });
  let marks: Marks;
  try {
    await sleep(beforeMs);
    marks = await scenario.run(cluster, topics);
    await sleep(afterMs);
  } finally {
    stop = true;
    onLoadStop?.();
    await load.finished;
  }
  const outcomes = load.outcomes;
  earlier.push(...outcomes);

  const admin = cluster.kafka.admin();
  await admin.connect();
  let lagZeroAt: number | undefined;
  try {
    await until(
      async () => {
        const lags = await Promise.all(
          [stack.groups.store, stack.groups.push].map((g) => lagOf(admin, g, stack.topic)),
        );
        if (lags.some((lag) => lag !== 0)) return false;
        lagZeroAt = performance.now();
        return true;
      },
      settleMs,
      'both consumers caught up',
      200,
    ).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }

  const accepted = outcomes.filter((o) => o.status === 202);
  const everyAccepted = earlier.filter((o) => o.status === 202);
  let result = audit(earlier, [], []);
  let inKafka: Placed[] = [];
  let stored: string[] = [];
  await until(
    async () => {
      inKafka = await readTopic(cluster.kafka, stack.topic);
      stored = await stack.storedIds();
      result = audit(earlier, inKafka, stored);
      return result.storedOnce === everyAccepted.length;
    },
    settleMs,
    `every 202 stored once (${scenario.name})`,
    1_000,
  ).catch(() => undefined);
  // Pushes are at least once per open session: wait for them too (bounded).
  // Those a message announced as skipped (more than a message carries for one recipient in one
  // batch: the client reads its inbox) count as told.
  const unpushedNow = () =>
    users.flatMap((recipient) => {
      const missing = accepted
        .filter((o) => (users[(o.index + 1) % users.length] ?? 0) === recipient)
        .flatMap((o) => o.receipts)
        .filter((r) => !sessions.pushedTo(recipient).has(r.id))
        .map((r) => `${r.id} (to ${recipient})`);
      return missing.slice(Math.min(missing.length, sessions.skippedTo(recipient)));
    });
  await until(() => unpushedNow().length === 0, 30_000, 'every 202 pushed', 500).catch(
    () => undefined,
  );

  const mine = new Set(outcomes.flatMap((o) => o.receipts.map((r) => r.id)));
  const own = (list: readonly string[]) =>
    list.filter((entry) => mine.has(entry.split(/[ :]/)[0] ?? ''));
  const storedSet = new Set(stored);
  const refused = outcomes.filter((o) => o.status === 503);
  // A request sent just before the cluster settled may still wait out its deadline, and its
  // container then refuses for a second while it reconnects: 503s after twice that are late.
  const settled = (marks.settledAt ?? marks.faultAt) + 2 * MAX_503_MS + REFUSE_AFTER_FAILURE_MS;
  const first503 = refused.filter((o) => o.sentAt >= marks.faultAt).map((o) => o.answeredAt);
  const recoverFrom = marks.settledAt ?? marks.returnedAt;
  const recovered = accepted.filter((o) => o.sentAt >= recoverFrom).map((o) => o.answeredAt);
  return {
    name: scenario.name,
    audit: {
      ...audit(outcomes, [], []),
      storedOnce: accepted.filter((o) =>
        o.receipts.every((r) => !result.lost.some((l) => l.startsWith(r.id))),
      ).length,
      duplicates: own(result.duplicates),
      lost: own(result.lost),
      misplaced: own(result.misplaced),
    },
    refused: refused.length,
    withoutRetryAfter: refused.filter((o) => !/^\d+$/.test(o.retryAfter ?? '')).length,
    slowRefusals: refused
      .map((o) => o.answeredAt - o.sentAt)
      .filter((ms) => ms > MAX_503_MS)
      .map(Math.round),
    lateRefusals: refused.filter((o) => o.sentAt > settled).length,
    throttled: outcomes.filter((o) => o.status === 500 && o.body === INTERNAL_SERVER_ERROR).length,
    unanswered: outcomes.filter((o) => o.status === 0).length,
    other: outcomes
      .filter((o) => o.status !== 202 && o.status !== 503 && o.status !== 0)
      .filter((o) => !(o.status === 500 && o.body === INTERNAL_SERVER_ERROR))
      .map((o) => `${o.status} ${o.body.slice(0, 200)}`),
    skipped: inKafka.filter((r) => mine.has(r.id) && !storedSet.has(r.id)).map((r) => r.id),
    unpushed: unpushedNow(),
    first503Ms: first503.length ? Math.min(...first503) - marks.faultAt : undefined,
    lagZeroMs: lagZeroAt === undefined ? undefined : Math.max(0, lagZeroAt - marks.returnedAt),
    recoverMs: recovered.length ? Math.min(...recovered) - recoverFrom : undefined,
    accepted: accepted.map((o) => o.answeredAt - o.sentAt),
  };
};
