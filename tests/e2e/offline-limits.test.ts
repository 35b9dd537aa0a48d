import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Offline, startOffline } from '../helpers/offline.js';
import { until } from '../helpers/wait.js';

/**
 * serverless-offline-limits on a real `sls offline start`: a function that times out, throws or
 * is throttled gets the answer AWS's HTTP API gives (500, `{"message":"Internal Server Error"}`,
 * nothing internal), not serverless-offline's 200 with the error's message and stack.
 */

const FIXTURE = join(import.meta.dirname, '../fixtures/limits-service');
const BASE = 'http://127.0.0.1:4200';
const AWS_BODY = { message: 'Internal Server Error' };

const get = async (path: string) => {
  const response = await fetch(`${BASE}${path}`, { signal: AbortSignal.timeout(30_000) });
  return { status: response.status, text: await response.text() };
};

describe('serverless-offline-limits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'offline-limits-'));
  let offline: Offline;

  beforeAll(async () => {
    offline = await startOffline(FIXTURE, {});
  });

  afterAll(async () => {
    await offline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a timed-out function with 500 and no internals', async () => {
    const { status, text } = await get('/times-out');
    expect(status).toBe(500);
    expect(JSON.parse(text)).toEqual(AWS_BODY);
  });

  it('answers a function that throws with 500 and no internals', async () => {
    const { status, text } = await get('/throws');
    expect(status).toBe(500);
    expect(JSON.parse(text)).toEqual(AWS_BODY);
    expect(text).not.toMatch(/secret|stack|\/var\/task/);
  });

  it.each([
    ['its reservedConcurrency', '/slow', 2],
    ['the default limit', '/busy', 3],
  ])(
    'throttles a function at %s at once, and serves again once a slot is free',
    async (_, path, limit) => {
      const release = join(dir, `release-${path.slice(1)}`);
      const started = () =>
        readdirSync(dir).filter((f) => f.startsWith(`release-${path.slice(1)}.started`));
      const running = Array.from({ length: limit }, () => get(`${path}?release=${release}`));
      await until(() => started().length === limit, 60_000, `${limit} invocations to start`);
      const throttled = await get(`${path}?release=${release}`);
      expect(throttled.status).toBe(500);
      expect(JSON.parse(throttled.text)).toEqual(AWS_BODY);
      expect(started()).toHaveLength(limit);
      writeFileSync(release, '');
      expect((await Promise.all(running)).map((r) => r.status)).toEqual(Array(limit).fill(200));
      expect((await get(`${path}?release=${release}`)).status).toBe(200);
      expect(offline.output()).toMatch(/throttled/);
    },
  );
});
