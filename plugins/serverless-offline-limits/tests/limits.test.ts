import { describe, expect, it } from 'vitest';
import { corsPolicy, isLocalHost } from '../src/gateway.js';
import { InstanceCap } from '../src/instances.js';
import {
  ConcurrencyLimits,
  INTERNAL_SERVER_ERROR,
  invokeAsAws,
  TooManyRequestsError,
} from '../src/limits.js';

const httpApiEvent = { version: '2.0', requestContext: { http: { method: 'GET' } } };
const kafkaEvent = { eventSource: 'aws:kafka', records: {} };
const webSocketEvent = {
  requestContext: { connectionId: 'c1', eventType: 'MESSAGE', routeKey: 'ping' },
  body: '{"action":"ping"}',
};
const log = { warning: () => {}, error: () => {} };

describe('ConcurrencyLimits', () => {
  it("grants slots up to a function's limit, then refuses, and frees a slot once", () => {
    const limits = new ConcurrencyLimits(new Map([['f', 2]]), undefined);
    const first = limits.acquire('f');
    const second = limits.acquire('f');
    expect(first && second).toBeTruthy();
    expect(limits.acquire('f')).toBeUndefined();
    first?.();
    first?.();
    expect(limits.running('f')).toBe(1);
    expect(limits.acquire('f')).toBeDefined();
  });

  it('uses the default for functions without a limit of their own, and none without a default', () => {
    expect(new ConcurrencyLimits(new Map(), 1).limitOf('g')).toBe(1);
    const unlimited = new ConcurrencyLimits(new Map(), undefined);
    for (let i = 0; i < 100; i++) expect(unlimited.acquire('g')).toBeDefined();
  });
});

describe('invokeAsAws', () => {
  const run = (
    limits: InstanceType<typeof ConcurrencyLimits>,
    event: unknown,
    work: () => Promise<unknown>,
  ) => invokeAsAws({ limits, name: 'f', event, run: work, log });

  it('answers a failed HTTP API invocation as AWS does, with nothing of the error', async () => {
    const result = await run(new ConcurrencyLimits(new Map(), undefined), httpApiEvent, () =>
      Promise.reject(new Error('[504] - Lambda timeout.')),
    );
    expect(result).toEqual({
      statusCode: 500,
      headers: { 'content-type': 'application/json' },
      isBase64Encoded: false,
      body: INTERNAL_SERVER_ERROR,
    });
  });

  it('leaves other event sources alone: errors propagate, no limit applies', async () => {
    const limits = new ConcurrencyLimits(new Map([['f', 1]]), undefined);
    limits.acquire('f');
    await expect(run(limits, kafkaEvent, () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    await expect(run(limits, kafkaEvent, async () => 'ran')).resolves.toBe('ran');
  });

  it('throttles a WebSocket event beyond the limit as Lambda does, and lets its errors through', async () => {
    const limits = new ConcurrencyLimits(new Map([['f', 1]]), undefined);
    let calls = 0;
    const release = limits.acquire('f');
    await expect(
      run(limits, webSocketEvent, async () => {
        calls++;
      }),
    ).rejects.toBeInstanceOf(TooManyRequestsError);
    expect(calls).toBe(0);
    release?.();
    await expect(run(limits, webSocketEvent, async () => ({ statusCode: 200 }))).resolves.toEqual({
      statusCode: 200,
    });
    await expect(
      run(limits, webSocketEvent, () => Promise.reject(new Error('boom'))),
    ).rejects.toThrow('boom');
    expect(limits.running('f')).toBe(0);
  });

  it('throttles without running the function, and frees the slot after a run', async () => {
    const limits = new ConcurrencyLimits(new Map([['f', 1]]), undefined);
    let calls = 0;
    const work = async () => {
      calls++;
      return { statusCode: 200 };
    };
    const release = limits.acquire('f');
    expect(await run(limits, httpApiEvent, work)).toMatchObject({ statusCode: 500 });
    expect(calls).toBe(0);
    release?.();
    expect(await run(limits, httpApiEvent, work)).toEqual({ statusCode: 200 });
    expect(limits.running('f')).toBe(0);
  });
});

describe('corsPolicy', () => {
  it('allows no origin without a CORS configuration, as an HTTP API adds no CORS header', () => {
    expect(corsPolicy(undefined)('https://example.com')).toBe(false);
  });

  it('allows the configured origins only, and every origin with true or without a list', () => {
    const policy = corsPolicy({ allowedOrigins: ['https://app.example.com'] });
    expect(policy('https://app.example.com')).toBe(true);
    expect(policy('https://elsewhere.example.com')).toBe(false);
    expect(corsPolicy(true)('https://elsewhere.example.com')).toBe(true);
    expect(corsPolicy({ allowedOrigins: ['*'] })('https://elsewhere.example.com')).toBe(true);
  });
});

describe('isLocalHost', () => {
  it.each([
    ['localhost:3000'],
    ['127.0.0.1:3000'],
    ['[::1]:3000'],
    ['192.168.1.20:3000'],
    ['app.localhost'],
    ['LOCALHOST'],
    [undefined],
  ])('answers a request for %s', (host) => {
    expect(isLocalHost(host, undefined)).toBe(true);
  });

  it.each([
    ['rebound.example:3000'],
    ['localhost.example.com'],
    ['127.0.0.1.nip.example'],
    ['a b'],
  ])('refuses a request for %s, a name that is not this machine (DNS rebinding)', (host) => {
    expect(isLocalHost(host, undefined)).toBe(false);
  });

  it('answers for the host serverless-offline was told to listen on', () => {
    expect(isLocalHost('devbox.internal:3000', 'devbox.internal')).toBe(true);
  });
});

describe('InstanceCap', () => {
  /** serverless-offline's own choice: an idle instance, else a new one (counted). */
  const poolOf = () => {
    const made: { status: string; id: number }[] = [];
    return {
      made,
      create: () => {
        const idle = made.find((i) => i.status === 'IDLE');
        if (idle) return idle;
        const fresh = { status: 'IDLE', id: made.length };
        made.push(fresh);
        return fresh;
      },
    };
  };

  it('lets serverless-offline start instances up to the cap, then hands out the least busy instead of a new one', () => {
    const cap = new InstanceCap(2);
    const pool = poolOf();
    const owner = {};
    const a = cap.pick(owner, 'f', pool.create);
    a.status = 'BUSY';
    const b = cap.pick(owner, 'f', pool.create);
    b.status = 'BUSY';
    expect(pool.made).toHaveLength(2);
    const c = cap.pick(owner, 'f', pool.create);
    const d = cap.pick(owner, 'f', pool.create);
    expect(pool.made).toHaveLength(2);
    expect(new Set([c, d])).toEqual(new Set([a, b]));
    expect(cap.claims(a) + cap.claims(b)).toBe(4);
    // Another function has a cap of its own.
    cap.pick(owner, 'g', pool.create);
    expect(pool.made).toHaveLength(3);
  });

  it('starts instances without bound when no cap is set, as serverless-offline does', () => {
    const cap = new InstanceCap(undefined);
    const pool = poolOf();
    for (let i = 0; i < 10; i++) cap.pick({}, 'f', pool.create).status = 'BUSY';
    expect(pool.made).toHaveLength(10);
  });

  it('runs the invocations handed to one instance one at a time, in order', async () => {
    const cap = new InstanceCap(1);
    const pool = poolOf();
    const owner = {};
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const invoke = async (name: string, ms: number) => {
      const instance = cap.pick(owner, 'f', pool.create);
      try {
        return await cap.turn(instance, async () => {
          running++;
          most = Math.max(most, running);
          order.push(`start ${name}`);
          await new Promise((r) => setTimeout(r, ms));
          order.push(`end ${name}`);
          running--;
          return name;
        });
      } finally {
        cap.release(instance);
      }
    };
    expect(await Promise.all([invoke('a', 20), invoke('b', 1), invoke('c', 5)])).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(most).toBe(1);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(pool.made).toHaveLength(1);
    expect(cap.claims(pool.made[0] as object as { status: string })).toBe(0);
  });

  it('runs the next invocation after one that failed, and never hands out an instance serverless-offline cleaned up', async () => {
    const cap = new InstanceCap(1);
    const pool = poolOf();
    const owner = {};
    const first = cap.pick(owner, 'f', pool.create);
    const failed = cap.turn(first, async () => {
      throw new Error('handler failed');
    });
    const second = cap.pick(owner, 'f', pool.create);
    expect(second).toBe(first);
    const next = cap.turn(second, async () => 'ran');
    await expect(failed).rejects.toThrow('handler failed');
    expect(await next).toBe('ran');
    cap.release(first);
    cap.release(second);
    cap.forget(first);
    first.status = 'GONE';
    const third = cap.pick(owner, 'f', pool.create);
    expect(third).not.toBe(first);
  });
});
