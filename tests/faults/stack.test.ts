import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_USERS } from '../../shared/models/index.js';
import { brokerProxy, type FaultStack, startFaultStack } from '../helpers/fault-stack.js';
import { readTopic } from '../helpers/kafka.js';
import { type Audit, audit, type Outcome, startLoad } from '../helpers/load.js';
import { testKafka } from '../helpers/test-broker.js';
import type { ToxicProxy } from '../helpers/toxiproxy.js';
import { until } from '../helpers/wait.js';

const RATE_PER_SECOND = 5;
/** Requests answered while the fault lasts, before it is healed. */
const ANSWERED_DURING_FAULT = 15;
/** 202s answered while a fault that only slows things down lasts, before it is healed. */
const ACCEPTED_WHILE_SLOW = 5;

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
  /**
   * Whether requests are expected to fail while it lasts (with 503s); if not, 202s must go on
   * while it lasts.
   */
  readonly refuses: boolean;
}

describe('the stack under broker and store faults, without restarting anything', () => {
  const kafka = testKafka('stack-faults');
  let stack: FaultStack;
  const everything: Outcome[] = [];

  beforeAll(async () => {
    stack = await startFaultStack({ kafka });
  });

  afterAll(async () => {
    await stack?.close();
  });

  const faults: Fault[] = [
    { name: 'broker cut', proxy: brokerProxy, inject: (p) => p.down(), refuses: true },
    {
      // Nothing comes back and nothing is refused: only the send deadline ends a request, with a
      // 503, where a publisher without one would be ended by Lambda's timeout (a 500).
      name: 'broker black hole',
      proxy: brokerProxy,
      inject: (p) => p.blackhole(),
      refuses: true,
    },
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

  it.each(faults)(
    '$name: every 202 stored once, no 500, 503s with Retry-After, 202s while slowed, recovery',
    async (fault) => {
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
        await fault.inject(fault.proxy(stack));
        // Sent once the fault was in place. How fast the answers come (503s within the send
        // deadline, the first 202 after healing) is bench/reliability.ts's to measure.
        const injectedAt = performance.now();
        await until(
          () => answered(injectedAt).length >= ANSWERED_DURING_FAULT,
          60_000,
          'answers during the fault',
        );
        if (!fault.refuses) {
          // Slowed down, the service goes on accepting: a 503 to everything would not do.
          await until(
            () => answered(injectedAt, 202).length >= ACCEPTED_WHILE_SLOW,
            60_000,
            `${ACCEPTED_WHILE_SLOW} 202s while slowed down`,
          );
        }
        const healedAt = performance.now();
        await fault.proxy(stack).heal();
        await until(() => answered(healedAt, 202).length >= 5, 60_000, '202s after the fault');
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
    },
  );
});
