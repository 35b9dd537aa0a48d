import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { DEFAULT_USERS } from '../../shared/models/index.js';
import { brokerProxy, type FaultStack, startFaultStack } from '../helpers/fault-stack.js';
import { readTopic } from '../helpers/kafka.js';
import { type Audit, audit, type Outcome, startLoad } from '../helpers/load.js';
import { testKafka } from '../helpers/test-broker.js';
import type { ToxicProxy } from '../helpers/toxiproxy.js';
import { until } from '../helpers/wait.js';

const HTTP_PORT = 3200;
const RATE_PER_SECOND = 5;
/**
 * Longest a 503 may take: within the send function's deadline (KAFKA_SEND_TIMEOUT_MS) on a quiet
 * machine; twice that leaves room for a busy CI machine while still telling a 503 at the deadline
 * from a request left to Lambda's 10 s timeout.
 */
const MAX_503_MS = 2 * loadConfig({}).kafka.sendTimeoutMs + 1_000;
/** Longest from a fault's end to the first 202 sent after it (2 s on a quiet machine). */
const MAX_RECOVERY_MS = 10_000;
/** Requests answered while the fault lasts, before it is healed. */
const ANSWERED_DURING_FAULT = 15;

const users = DEFAULT_USERS.map((u) => u.id);

const request = (index: number): RequestInit => {
  const fromID = users[index % users.length] ?? 1;
  const toID = users[(index + 1) % users.length] ?? 2;
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify({ fromID, toID, message: `fault load ${index}` }),
  };
};

interface Fault {
  readonly name: string;
  readonly proxy: (stack: FaultStack) => ToxicProxy;
  readonly inject: (proxy: ToxicProxy) => Promise<unknown>;
  /** Whether requests are expected to fail while it lasts. */
  readonly refuses: boolean;
}

describe('the stack under broker and store faults, without restarting anything', () => {
  const kafka = testKafka('stack-faults');
  let stack: FaultStack;
  const everything: Outcome[] = [];

  beforeAll(async () => {
    stack = await startFaultStack({ kafka, httpPort: HTTP_PORT });
  });

  afterAll(async () => {
    await stack?.close();
  });

  const faults: Fault[] = [
    { name: 'broker cut', proxy: brokerProxy, inject: (p) => p.down(), refuses: true },
    {
      name: 'broker slow (300 ms each way)',
      proxy: brokerProxy,
      inject: (p) => p.latency(300),
      refuses: false,
    },
    { name: 'store cut', proxy: (s) => s.store, inject: (p) => p.down(), refuses: true },
    {
      name: 'store slow (200 ms each way)',
      proxy: (s) => s.store,
      inject: (p) => p.latency(200),
      refuses: false,
    },
  ];

  it.each(faults)('$name: every 202 stored once, no 500, fast 503s, recovery', async (fault) => {
    let stop = false;
    const load = startLoad({
      url: `${stack.base}/send`,
      ratePerSecond: RATE_PER_SECOND,
      request,
      done: () => stop,
      maxDurationMs: 120_000,
    });
    const answered = (after: number, status?: number) =>
      load.outcomes.filter(
        (o) => o.sentAt >= after && (status === undefined || o.status === status),
      );
    try {
      const warm = performance.now();
      // Warm: workers started and connected before the fault, as a running service has them.
      await until(() => answered(warm, 202).length >= 20, 60_000, '202s before the fault');
      const injectedAt = performance.now();
      await fault.inject(fault.proxy(stack));
      await until(
        () => answered(injectedAt).length >= ANSWERED_DURING_FAULT,
        60_000,
        'answers during the fault',
      );
      const healedAt = performance.now();
      await fault.proxy(stack).heal();
      await until(() => answered(healedAt, 202).length >= 5, 60_000, '202s after the fault');
      const recovery = Math.min(...answered(healedAt, 202).map((o) => o.answeredAt)) - healedAt;
      expect(recovery, 'first 202 after the fault healed').toBeLessThan(MAX_RECOVERY_MS);
    } finally {
      stop = true;
      await load.finished;
      await fault.proxy(stack).heal();
    }
    const outcomes = load.outcomes;
    everything.push(...outcomes);
    // What the offline gateway said about any 500 of its own (throttled, timed out, failed).
    const gateway = stack.offline
      .output()
      .split('\n')
      .filter((line) => line.includes('[offline-limits]'))
      .slice(-5)
      .join('\n');
    expect(
      outcomes
        .filter((o) => o.status !== 202 && o.status !== 503)
        .map((o) => `${o.status} ${o.body}`),
      gateway,
    ).toEqual([]);
    const refused = outcomes.filter((o) => o.status === 503);
    if (fault.refuses) expect(refused.length).toBeGreaterThan(0);
    for (const o of refused) {
      expect(o.retryAfter).toMatch(/^\d+$/);
      expect(o.answeredAt - o.sentAt).toBeLessThan(MAX_503_MS);
      expect(JSON.parse(o.body).error.message).toMatch(/written|published/);
    }

    // Every acknowledged notification reaches Kafka and the inbox exactly once.
    let result: Audit | undefined;
    await until(
      async () => {
        result = audit(everything, await readTopic(kafka, stack.topic), await stack.storedIds());
        return result.storedOnce === everything.filter((o) => o.status === 202).length;
      },
      90_000,
      `every 202 stored once (${fault.name})`,
      1_000,
    ).catch(() => undefined);
    expect(result).toMatchObject({ duplicates: [], lost: [], misplaced: [] });
    expect(result?.storedOnce).toBe(result?.accepted);
  });
});
