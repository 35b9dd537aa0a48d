import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Offline, startOffline } from '../helpers/offline.js';
import { until } from '../helpers/wait.js';

/**
 * serverless-offline-limits on a real `sls offline start`: a function that times out, throws or
 * is throttled gets the answer AWS's HTTP API gives (500, `{"message":"Internal Server Error"}`,
 * nothing internal), not serverless-offline's 200 with the error's message and stack; a WebSocket
 * function is capped alike; and what API Gateway answers before any function runs (no route,
 * CORS, unsigned requests, WebSocket message limits) is answered as AWS does.
 */

const FIXTURE = join(import.meta.dirname, '../fixtures/limits-service');
const BASE = 'http://127.0.0.1:4200';
const WEBSOCKET = 'ws://127.0.0.1:4201';
const LAMBDA = 'http://127.0.0.1:4202';
const AWS_BODY = { message: 'Internal Server Error' };
/** A web page on another origin, as a browser sends its requests. */
const ELSEWHERE = 'https://elsewhere.example';

const get = async (path: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${BASE}${path}`, {
    headers,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
};

const corsHeaders = (headers: Headers) =>
  [...headers.keys()].filter((name) => name.startsWith('access-control-'));

/** A connection to the fixture's WebSocket API, with every message it received. */
const openSocket = async () => {
  const socket = new WebSocket(WEBSOCKET);
  const received: string[] = [];
  socket.on('message', (data) => received.push(String(data)));
  const closed = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the connection was not closed')), 30_000);
    socket.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  // Only the tests that close it wait for it.
  closed.catch(() => {});
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return { socket, received, closed };
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

  it('caps a WebSocket function as an HTTP one: a message beyond its limit fails at once, as a throttled invocation', async () => {
    const { socket, received } = await openSocket();
    try {
      const release = join(dir, 'release-socket');
      socket.send(JSON.stringify({ release }));
      await until(
        () => readdirSync(dir).some((f) => f.startsWith('release-socket.started')),
        60_000,
        'the held message to start',
      );
      socket.send('while the first is held');
      await until(() => received.length === 1, 30_000, 'the throttled answer');
      expect(JSON.parse(received[0] ?? '')).toMatchObject({ message: 'Internal server error' });
      writeFileSync(release, '');
      await until(() => received.length === 2, 30_000, 'the held answer');
      expect(received[1]).toMatch(/^received \d+$/);
      expect(offline.output()).toMatch(/socket throttled/);
    } finally {
      socket.close();
    }
  });

  it('closes a connection whose message is over 128 KB with 1009, as API Gateway, and stays up', async () => {
    const { socket, received, closed } = await openSocket();
    const limit = 128 * 1024;
    socket.send('a'.repeat(limit));
    await until(() => received.length === 1, 30_000, 'the answer to a message at the limit');
    expect(received[0]).toBe(`received ${limit}`);
    socket.send('a'.repeat(limit + 1));
    expect(await closed).toBe(1009);
    expect((await get('/hello')).status).toBe(200);
  });

  it('closes a connection that sends text that is not UTF-8 (1007), and stays up', async () => {
    const { socket, closed } = await openSocket();
    socket.send(Buffer.from([0xff, 0xfe]), { binary: false });
    expect(await closed).toBe(1007);
    expect((await get('/hello')).status).toBe(200);
    const again = await openSocket();
    again.socket.send('still there');
    await until(() => again.received.length === 1, 30_000, 'an answer on a new connection');
    again.socket.close();
  });

  it('answers a request no route matches as an HTTP API does, listing nothing', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['DELETE', '/hello'],
    ] as const) {
      const response = await fetch(`${BASE}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(await response.json()).toEqual({ message: 'Not Found' });
    }
  });

  it('gives another origin no CORS header and no preflight, as an HTTP API without CORS', async () => {
    const answer = await get('/hello', { origin: ELSEWHERE });
    expect(answer.status).toBe(200);
    expect(corsHeaders(answer.headers)).toEqual([]);
    const preflight = await fetch(`${BASE}/hello`, {
      method: 'OPTIONS',
      headers: { origin: ELSEWHERE, 'access-control-request-method': 'GET' },
    });
    expect(preflight.status).toBe(404);
    expect(corsHeaders(preflight.headers)).toEqual([]);
    const failed = await get('/throws', { origin: ELSEWHERE });
    expect(corsHeaders(failed.headers)).toEqual([]);
  });

  it("refuses what a browser sends to Lambda's Invoke API and to @connections, as unsigned requests", async () => {
    const invoke = (headers: Record<string, string>) =>
      fetch(`${LAMBDA}/2015-03-31/functions/limits-fixture-test-hello/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', ...headers },
        body: '{}',
      });
    const fromPage = await invoke({ origin: ELSEWHERE });
    expect(fromPage.status).toBe(403);
    expect(await fromPage.json()).toEqual({ message: 'Missing Authentication Token' });
    expect(corsHeaders(fromPage.headers)).toEqual([]);
    // The SDK sends no Origin: the Invoke API still serves it.
    const fromSdk = await invoke({});
    expect(fromSdk.status).toBe(200);
    expect(await fromSdk.json()).toMatchObject({ statusCode: 200 });
    const post = await fetch(`${WEBSOCKET.replace('ws:', 'http:')}/@connections/any-id`, {
      method: 'POST',
      headers: { origin: ELSEWHERE, 'content-type': 'text/plain' },
      body: 'forged',
    });
    expect(post.status).toBe(403);
  });

  it('answers no request for a host name that is not this machine (a page rebound to 127.0.0.1)', async () => {
    /** GET `path` on `port` with the `Host` header a browser would send for `host`. */
    const asHost = (port: number, path: string, host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await asHost(4200, '/hello', 'rebound.example:4200')).toEqual({
      status: 403,
      body: '{"message":"Forbidden"}',
    });
    expect(
      (await asHost(4202, '/2015-03-31/functions/x/invocations', 'rebound.example')).status,
    ).toBe(403);
    expect((await asHost(4200, '/hello', 'localhost:4200')).status).toBe(200);
  });
});
