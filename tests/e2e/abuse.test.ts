import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationPush, ServerMessage } from '../../shared/realtime/messages.js';
import { median, openSessions, pushLatency, selfFlood } from '../helpers/abuse.js';
import { sendAs, tokenFor } from '../helpers/api-client.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { brokers, testKafka } from '../helpers/test-broker.js';
import {
  goodClaims,
  issuerKey,
  nowS,
  sign,
  testIssuer,
  testIssuerPath,
} from '../helpers/tokens.js';
import { until } from '../helpers/wait.js';
import { openSocket, protocolsFor, type TestSocket } from '../helpers/websocket.js';

/**
 * Issue 18, tried as an attacker would, through a real `sls offline start`: one signed-in user
 * must not be able to slow down, fill up or stall the service for the others. Each test is one
 * finding of the review; each failed against the code before its fix.
 */

const EMMA = 1;
const BRUNO = 2;
const RICK = 3;
const LENA = 4;

/** Sessions one user may hold open (shared/realtime/limits.ts). */
const SESSIONS_PER_USER = 5;

const isPushOf =
  (id: string) =>
  (m: ServerMessage): m is NotificationPush =>
    m.type === 'notification' && m.notification.id === id;

type Closing = Extract<ServerMessage, { type: 'closing' }>;
const isClosing = (m: ServerMessage): m is Closing => m.type === 'closing';

/** The partition Kafka's Java client (and ours) gives a user's notifications, of 3. */
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

describe('abuse: nobody can slow down, fill up or stall the service for others', () => {
  let stack: Stack;
  const sockets: TestSocket[] = [];

  const connectWith = async (token: string): Promise<TestSocket> => {
    const socket = await openSocket(stack.websocketUrl, protocolsFor(token));
    sockets.push(socket);
    return socket;
  };

  const post = (path: string, init: { headers?: Record<string, string>; body: string }) =>
    fetch(`${stack.base}${path}`, { method: 'POST', ...init });

  const postJson = async (path: string, userId: number | undefined, body: unknown) =>
    post(path, {
      headers: {
        'content-type': 'application/json',
        ...(userId === undefined ? {} : { authorization: `Bearer ${await tokenFor(userId)}` }),
      },
      body: JSON.stringify(body),
    });

  /** Records in the topic so far, all partitions: what a refused request must not have added. */
  const published = async (): Promise<number> => {
    const admin = testKafka('abuse-offsets').admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(stack.topic);
      return offsets.reduce((sum, p) => sum + Number(p.high), 0);
    } finally {
      await admin.disconnect();
    }
  };

  beforeAll(async () => {
    // The store in a process of its own: its work for the attacker's notifications must not
    // stall this process, which times the victim's pushes.
    stack = await startStack({ brokers: brokers(), storeProcess: true });
    // Warm both consumers and the functions: the first push pays for starting their workers.
    const warm = await connectWith(await tokenFor(LENA));
    const id = await sendAs(stack.base, EMMA, LENA, 'Warming up.');
    await warm.next(isPushOf(id), 60_000);
  });

  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    await stack?.stop();
  });

  it("finding 1: one user's hundreds of sessions and self-notifications never stall another user's pushes on their partition", {
    timeout: 400_000,
  }, async () => {
    const attacker = BRUNO;
    const victim = RICK;
    expect(partitionOf(attacker)).toBe(partitionOf(victim));
    const watcher = await connectWith(await tokenFor(victim));
    // Emma sends the victim one notification: the ms until it is pushed.
    const victimLatency = () => pushLatency(stack.base, EMMA, victim, watcher);
    const pause = (ms = 200) => new Promise((resolve) => setTimeout(resolve, ms));

    const unloaded: number[] = [];
    for (let i = 0; i < 15; i++) {
      unloaded.push(await victimLatency());
      await pause(300);
    }

    // The attack: hundreds of sessions, a few at a time. A session that newer ones displace while
    // it is still opening is refused (429), and so is one past the function's concurrency (502,
    // as API Gateway answers a throttled $connect).
    const { opened: sessions, refused } = await openSessions(stack.websocketUrl, attacker, 200);
    sockets.push(...sessions);
    console.info(`attacker: ${sessions.length} sessions opened, ${refused} refused while opening`);
    // The newest (by the server's clock: sessions opened at once finish in any order) stay open;
    // every other was closed by the server, told why first.
    const isOpen = (t: TestSocket) => t.socket.readyState === t.socket.OPEN;
    await until(
      () => sessions.filter(isOpen).length <= SESSIONS_PER_USER,
      30_000,
      `at most ${SESSIONS_PER_USER} sessions left open`,
    ).catch(() => undefined);
    const open = sessions.filter(isOpen);
    expect(open.length, 'sessions left open').toBeLessThanOrEqual(SESSIONS_PER_USER);
    expect(open.length, 'sessions left open').toBeGreaterThan(0);
    for (const s of sessions.filter((t) => !isOpen(t))) {
      expect(s.received.find(isClosing)).toMatchObject({
        type: 'closing',
        reason: 'session_limit',
      });
    }
    // Recorded (what is pushed to): as many at most. A record whose socket closed without its
    // $disconnect (throttled under this load) is removed by the next push to it (410).
    expect((await stack.connectionsOf(attacker)).length).toBeLessThanOrEqual(SESSIONS_PER_USER);

    // Then the attack: self-notifications, 100 a request, as fast as the service answers them
    // (until the per-sender limit refuses them), while the victim is sent one every 300 ms. The
    // victim's push latency over the attack (median) against unloaded, in this run.
    const loaded: number[] = [];
    let attacking = true;
    const flood = { accepted: 0, refused: 0 };
    const attack = (async () => {
      while (attacking) {
        const status = (await selfFlood(stack.base, attacker, 100)).status;
        if (status === 202) flood.accepted += 100;
        else if (status === 429) flood.refused++;
        else throw new Error(`the flood got ${status}`);
        if (status === 429) await pause(500);
      }
    })();
    const attackEnds = Date.now() + 15_000;
    while (Date.now() < attackEnds) {
      loaded.push(await victimLatency());
      await pause(300);
    }
    attacking = false;
    await attack;
    const ratio = median(loaded) / median(unloaded);
    console.info(
      `victim push latency: unloaded median ${median(unloaded).toFixed(0)} ms ${JSON.stringify(unloaded.map(Math.round))}; over the attack (${flood.accepted} self-notifications accepted, ${flood.refused} requests refused 429) median ${median(loaded).toFixed(0)} ms ${JSON.stringify(loaded.map(Math.round))}, ratio ${ratio.toFixed(2)}`,
    );
    // Every push arrived: none lost, none stalled behind the attacker.
    expect(loaded.every(Number.isFinite)).toBe(true);
    expect(flood.accepted).toBeGreaterThanOrEqual(300);
    // How much slower (the issue's goal is 2x) is bench/abuse.ts's to measure, against the same
    // victim unloaded in the same run; the unbounded stall before the fix (no push within 30 s,
    // pushLatency's guard) fails here. See README, Limits and abuse.
  });

  it('finding 2: a sender past the rate limit gets 429 with Retry-After, and nothing is published', async () => {
    const batch = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ toId: EMMA, message: `Rate ${i}` }));
    let answer = await postJson('/notifications', LENA, batch(500));
    expect(answer.status).toBe(202);
    const before = await published();
    answer = await postJson('/notifications', LENA, batch(200));
    expect(answer.status).toBe(429);
    const retryAfter = Number(answer.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await answer.json()).toMatchObject({ error: { code: 'rate_limited' } });
    expect(await published()).toBe(before);
    // Another sender is not held back by Lena's limit.
    expect(
      (await postJson('/notifications', EMMA, { toId: LENA, message: 'Still fine.' })).status,
    ).toBe(202);
  });

  it('finding 3: a session does not outlive its token: nothing is pushed after it expires, and the server closes it, saying why', async () => {
    const shortLived = await (await testIssuer()).issue(EMMA, { ttlS: 4 });
    const expiring = await connectWith(shortLived);
    const fresh = await connectWith(await tokenFor(EMMA));
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const id = await sendAs(stack.base, LENA, EMMA, `After expiry ${randomUUID()}`);
    await fresh.next(isPushOf(id), 30_000);
    const closed = await Promise.race([
      expiring.closed,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
    ]);
    expect(expiring.received.some(isPushOf(id))).toBe(false);
    expect(closed).toBeDefined();
    expect(expiring.received.find(isClosing)).toMatchObject({
      type: 'closing',
      reason: 'token_expired',
    });
  });

  it('finding 4: the public page does not list the users; the directory needs a token', async () => {
    const page = await (await fetch(`${stack.base}/`)).text();
    for (const name of ['Emma', 'Bruno', 'Rick', 'Lena']) expect(page).not.toContain(name);
    expect((await fetch(`${stack.base}/users`)).status).toBe(401);
    const signedIn = await fetch(`${stack.base}/users`, {
      headers: { authorization: `Bearer ${await tokenFor(EMMA)}` },
    });
    expect(signedIn.status).toBe(200);
    expect(await signedIn.json()).toMatchObject({
      users: expect.arrayContaining([{ id: BRUNO, name: 'Bruno' }]),
    });
  });

  it('finding 5: demo mode refuses a tokenless request from a foreign Origin, and publishes nothing', async () => {
    const form = (origin: string | undefined) =>
      post('/send', {
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(origin ? { origin } : {}),
        },
        // Rick: no earlier finding spent his per-sender limit (Bruno floods in finding 1).
        body: new URLSearchParams({ fromID: '3', toID: '1', message: 'Cross-site.' }).toString(),
      });
    const before = await published();
    const foreign = await form('https://attacker.example');
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect((await form('null')).status).toBe(403);
    expect(await published()).toBe(before);
    // The demo's curl sends no Origin; the page's own origin is no foreign one.
    expect((await form(undefined)).status).toBe(202);
    expect((await form(stack.base)).status).toBe(202);
  });

  it('finding 6: an error answer stays small whatever the request: the first issues and a count', async () => {
    const body: Record<string, number> = {};
    for (let i = 0; body && JSON.stringify(body).length < 250_000; i++) body[`k${i}`] = i;
    const answer = await post('/notifications', {
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await tokenFor(EMMA)}`,
      },
      body: JSON.stringify(body),
    });
    expect(answer.status).toBe(400);
    const text = await answer.text();
    expect(text.length).toBeLessThanOrEqual(4_096);
    const parsed = JSON.parse(text) as { error: { issues: unknown[]; issueCount: number } };
    expect(parsed.error.issues.length).toBeLessThanOrEqual(10);
    expect(parsed.error.issueCount).toBeGreaterThan(10_000);
    // One key of 200 KB: its name is not echoed whole either.
    const long = await post('/notifications', {
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await tokenFor(EMMA)}`,
      },
      body: JSON.stringify({ toId: 2, message: 'x', ['k'.repeat(200_000)]: 1 }),
    });
    expect(long.status).toBe(400);
    expect((await long.text()).length).toBeLessThanOrEqual(4_096);
  });

  it('finding 8: a lone UTF-16 surrogate or bytes that are not UTF-8 are refused with 400, on both routes; an ID token is refused', async () => {
    const lone = '{"toId": 2, "message": "broken \\ud800 text"}';
    const asEmma = { authorization: `Bearer ${await tokenFor(EMMA)}` };
    const before = await published();
    const json = await post('/notifications', {
      headers: { 'content-type': 'application/json', ...asEmma },
      body: lone,
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: { field: 'message' } });
    const demoJson = await post('/send', {
      headers: { 'content-type': 'application/json' },
      body: '{"fromID": 1, "toID": 2, "message": "\\udc00"}',
    });
    expect(demoJson.status).toBe(400);
    const form = await post('/send', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'fromID=1&toID=2&message=broken%ED%A0%80text',
    });
    expect(form.status).toBe(400);
    expect(await form.json()).toMatchObject({ error: { field: 'message' } });
    expect(await published()).toBe(before);

    // An ID token of the same issuer (token_use: id) is no access token.
    const issuer = await testIssuer();
    const own = await issuerKey(issuer, testIssuerPath());
    const idToken = await sign({ ...goodClaims(EMMA, nowS()), token_use: 'id' }, own.privateKey, {
      kid: own.kid,
    });
    const refused = await fetch(`${stack.base}/me/notifications`, {
      headers: { authorization: `Bearer ${idToken}` },
    });
    expect(refused.status).toBe(401);
  });
});
