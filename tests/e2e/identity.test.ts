import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ISSUER } from '../../shared/identity/constants.js';
import type { LocalIssuer } from '../../shared/identity/local-issuer.js';
import type { Notification } from '../../shared/models/index.js';
import type { Offline } from '../helpers/offline.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { brokers, testKafka } from '../helpers/test-broker.js';
import {
  forgerKey,
  goodClaims,
  issuerKey,
  nowS,
  sign,
  testIssuer,
  testIssuerPath,
  unsecured,
} from '../helpers/tokens.js';
import { until } from '../helpers/wait.js';
import { openSocket, protocolsFor, refusal } from '../helpers/websocket.js';

/**
 * Identity through a real `sls offline start` of this service on the local stage: every token is
 * verified by the functions with the rules of API Gateway's JWT authorizer (serverless-offline's
 * own authorizer only decodes), bad tokens get 401 and publish or reveal nothing, a user sends
 * and reads as themself only, and demo mode lets the demo's tokenless requests in and no others.
 */

/** The stack's address, once it has started (its ports are free ones). */
let BASE = '';

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: Record<string, unknown>;
}

const call = async (
  base: string,
  method: 'GET' | 'POST',
  path: string,
  { token, body, form }: { token?: string; body?: unknown; form?: Record<string, string> } = {},
): Promise<Answer> => {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(form).toString();
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(`${base}${path}`, { method, headers, body: payload });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: JSON.parse(text) };
};

/** What a refused token gets: 401, the error contract, and API Gateway's challenge. */
const expectRefusedToken = (answer: Answer, where: string) => {
  expect(answer.status, where).toBe(401);
  expect(answer.body, where).toMatchObject({
    message: 'Unauthorized',
    error: { code: 'invalid_token', message: expect.stringMatching(/^Invalid token: /) },
  });
  expect(answer.headers.get('www-authenticate'), where).toMatch(
    /^Bearer scope="" error="invalid_token" error_description="[^"]+"$/,
  );
  expect(answer.body, where).not.toHaveProperty('notifications');
};

describe('identity under sls offline start (local stage, demo mode on)', () => {
  const kafka: Kafka = testKafka('identity-e2e');
  let admin: Admin;
  let stack: Stack;
  let offline: Offline;
  let issuer: LocalIssuer;
  const tokens: string[] = [];
  /** A token of the local issuer for `userId`, remembered so that the logs can be searched. */
  const tokenFor = async (userId: number, options?: Parameters<LocalIssuer['issue']>[1]) => {
    const token = await issuer.issue(userId, options);
    tokens.push(token);
    return token;
  };

  /** Every record ever written to the topic: the sum of its partitions' end offsets. */
  const topicEnd = async (): Promise<number> =>
    (await admin.fetchTopicOffsets(stack.topic)).reduce((sum, p) => sum + Number(p.high), 0);

  const inbox = async (userId: number): Promise<Notification[]> => {
    const answer = await call(BASE, 'GET', `/notifications/${userId}?limit=100`, {
      token: await tokenFor(userId),
    });
    expect(answer.status).toBe(200);
    return answer.body.notifications as Notification[];
  };

  beforeAll(async () => {
    // The project's issuer, as `npm start` makes it: the functions read its jwks.json.
    issuer = await testIssuer();
    admin = kafka.admin();
    await admin.connect();
    stack = await startStack({ brokers: brokers() });
    BASE = stack.base;
    offline = stack.offline;
  });

  afterAll(async () => {
    await stack?.stop();
    await admin?.disconnect();
  });

  it('lets a user send as themself and read their own inbox, and /me/notifications too', async () => {
    const message = `from Bruno ${randomUUID()}`;
    const sent = await call(BASE, 'POST', '/notifications', {
      token: await tokenFor(2),
      body: { toId: 1, message },
    });
    expect(sent.status).toBe(202);
    // fromId may be given, when it is the caller's.
    const again = await call(BASE, 'POST', '/notifications', {
      token: await tokenFor(2),
      body: { fromId: 2, toId: 1, message: `${message} (again)` },
    });
    expect(again.status).toBe(202);
    await until(async () => (await inbox(1)).some((n) => n.id === again.body.id), 60_000, 'Emma');
    const stored = (await inbox(1)).find((n) => n.id === sent.body.id);
    expect(stored).toMatchObject({ from: { id: 2, name: 'Bruno' }, to: { id: 1 }, message });

    const mine = await call(BASE, 'GET', '/me/notifications?limit=100', {
      token: await tokenFor(1),
    });
    expect(mine.status).toBe(200);
    expect(mine.body.notifications).toEqual(await inbox(1));
  });

  it('refuses with 403, publishing nothing, a sender who is not the caller (one item of a batch is enough)', async () => {
    const before = await topicEnd();
    const token = await tokenFor(2);
    const single = await call(BASE, 'POST', '/notifications', {
      token,
      body: { fromId: 1, toId: 3, message: 'posing as Emma' },
    });
    expect(single.status).toBe(403);
    expect(single.body).toMatchObject({ error: { code: 'forbidden', field: 'fromId' } });
    const batch = await call(BASE, 'POST', '/notifications', {
      token,
      body: [
        { toId: 3, message: 'fine' },
        { fromId: 4, toId: 3, message: 'posing as Lena' },
      ],
    });
    expect(batch.status).toBe(403);
    expect(batch.body).toMatchObject({ error: { code: 'forbidden', field: '[1].fromId' } });
    const form = await call(BASE, 'POST', '/send', {
      token,
      form: { fromID: '3', toID: '1', message: 'posing as Rick' },
    });
    expect(form.status).toBe(403);
    expect(form.body).toMatchObject({ error: { code: 'forbidden', field: 'fromID' } });
    expect(await topicEnd()).toBe(before);
  });

  it("answers 404 for an unknown recipient, and 403 for another user's inbox", async () => {
    const token = await tokenFor(3);
    const unknown = await call(BASE, 'POST', '/notifications', {
      token,
      body: { toId: 99, message: 'to nobody' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { code: 'user_not_found', field: 'toId' } });
    for (const userId of [1, 99]) {
      const other = await call(BASE, 'GET', `/notifications/${userId}`, { token });
      expect(other.status, String(userId)).toBe(403);
      expect(other.body).toMatchObject({ error: { code: 'forbidden' } });
      expect(other.body).not.toHaveProperty('notifications');
    }
  });

  it('refuses with 401 every bad token on every route, publishing and revealing nothing', async () => {
    const key = await issuerKey(issuer, testIssuerPath());
    const forger = await forgerKey();
    const claims = () => goodClaims(2, nowS());
    const bad: Record<string, () => Promise<string>> = {
      'forged (another key, the issuer kid)': () =>
        sign(claims(), forger.privateKey, { kid: key.kid }),
      'forged (another key and kid)': () => sign(claims(), forger.privateKey, { kid: forger.kid }),
      expired: () => tokenFor(2, { ttlS: 1, now: new Date(Date.now() - 60_000) }),
      'not yet valid': () => tokenFor(2, { notBeforeS: 600 }),
      'another audience': () =>
        sign({ ...claims(), aud: 'another-api' }, key.privateKey, { kid: key.kid }),
      'another client': () =>
        sign({ ...claims(), client_id: 'another-app' }, key.privateKey, { kid: key.kid }),
      'another issuer': () =>
        sign({ ...claims(), iss: 'https://evil.example.com' }, key.privateKey, { kid: key.kid }),
      'alg none': async () => unsecured(claims(), { kid: key.kid }),
      malformed: async () => 'not.a.jwt',
      empty: async () => '',
    };
    // Emma's inbox holds a notification that no answer to a bad token may reveal.
    const secret = await call(BASE, 'POST', '/notifications', {
      token: await tokenFor(3),
      body: { toId: 1, message: `for Emma only ${randomUUID()}` },
    });
    expect(secret.status).toBe(202);
    await until(async () => (await inbox(1)).some((n) => n.id === secret.body.id), 60_000, 'Emma');
    const seeded = (await inbox(1)).map((n) => n.message);
    // An unread notification of Bruno's, whom every bad token claims to be: it stays unread.
    const unread = await call(BASE, 'POST', '/notifications', {
      token: await tokenFor(1),
      body: { toId: 2, message: `stays unread ${randomUUID()}` },
    });
    expect(unread.status).toBe(202);
    const unreadId = String(unread.body.id);
    await until(async () => (await inbox(2)).some((n) => n.id === unreadId), 60_000, 'Bruno');
    const before = await topicEnd();
    const table: Record<string, string> = {};
    for (const [name, make] of Object.entries(bad)) {
      const token = await make();
      tokens.push(token);
      const tag = `bad token ${name} ${randomUUID()}`;
      const answers = {
        'POST /notifications': await call(BASE, 'POST', '/notifications', {
          token,
          body: { toId: 1, message: tag },
        }),
        'POST /send': await call(BASE, 'POST', '/send', {
          token,
          form: { fromID: '2', toID: '1', message: tag },
        }),
        'GET /notifications/1': await call(BASE, 'GET', '/notifications/1', { token }),
        'GET /me/notifications': await call(BASE, 'GET', '/me/notifications', { token }),
        'POST /notifications/{id}/read': await call(
          BASE,
          'POST',
          `/notifications/${unreadId}/read`,
          {
            token,
          },
        ),
        'POST /notifications/read': await call(BASE, 'POST', '/notifications/read', { token }),
      };
      for (const [route, answer] of Object.entries(answers)) {
        expectRefusedToken(answer, `${name}: ${route}`);
        for (const message of seeded) expect(answer.text).not.toContain(message);
      }
      // WebSocket $connect verifies the token itself (API Gateway has no JWT authorizer there).
      expect(
        await refusal(openSocket(stack.websocketUrl, protocolsFor(token))),
        `${name}: $connect`,
      ).toBe(401);
      table[name] =
        `${answers['GET /notifications/1'].status} ${answers['GET /notifications/1'].headers.get('www-authenticate')}`;
    }
    expect(await topicEnd()).toBe(before);
    expect((await inbox(2)).find((n) => n.id === unreadId)).toMatchObject({ read: false });
    // The table for the record (README: bad tokens).
    process.stderr.write(`${JSON.stringify(table, null, 2)}\n`);
  });

  it('refuses with 403 a valid token without the scope, or for a user the directory lacks', async () => {
    const key = await issuerKey(issuer, testIssuerPath());
    const noScope = await sign({ ...goodClaims(2, nowS()), scope: 'openid' }, key.privateKey, {
      kid: key.kid,
    });
    const answer = await call(BASE, 'GET', '/notifications/2', { token: noScope });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({
      message: 'Forbidden',
      error: { code: 'insufficient_scope' },
    });
    expect(answer.headers.get('www-authenticate')).toBe(
      `Bearer scope="${LOCAL_ISSUER.SCOPE}" error="insufficient_scope" error_description="the token does not have a valid scope"`,
    );
    const stranger = await call(BASE, 'GET', '/me/notifications', { token: await tokenFor(99) });
    expect(stranger.status).toBe(403);
    expect(stranger.body).toMatchObject({ error: { code: 'forbidden' } });
  });

  it("keeps the demo's tokenless curl commands working, and no other route", async () => {
    const message = `demo ${randomUUID()}`;
    const sent = await call(BASE, 'POST', '/send', {
      form: { fromID: '4', toID: '1', message },
    });
    expect(sent.status).toBe(202);
    await until(
      async () => {
        const listed = await call(BASE, 'GET', '/notifications/1?limit=100');
        expect(listed.status).toBe(200);
        return (listed.body.notifications as Notification[]).some((n) => n.message === message);
      },
      60_000,
      'the demo notification in GET /notifications/1',
    );
    for (const [method, path, body] of [
      ['POST', '/notifications', { fromId: 4, toId: 1, message: 'no token' }],
      ['GET', '/me/notifications', undefined],
    ] as const) {
      const answer = await call(BASE, method, path, { body });
      expect(answer.status, path).toBe(401);
      expect(answer.body).toMatchObject({
        message: 'Unauthorized',
        error: { code: 'unauthorized' },
      });
      expect(answer.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('lets no web page of another origin mint a token or read an inbox (no CORS, as on AWS)', async () => {
    const origin = 'https://elsewhere.example';
    const preflight = await fetch(`${BASE}/local/token`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(404);
    for (const response of [
      preflight,
      await fetch(`${BASE}/notifications/1`, { headers: { origin } }),
      await fetch(`${BASE}/local/token`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 1 }),
      }),
    ]) {
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('logs who acted by user id, and never a token', async () => {
    // Lines printed from now on, of this test's own requests.
    const published = offline.waitForLine(/"message":"notification published"[^\n]*"callerId":4/);
    const refused = offline.waitForLine(/"message":"token refused"[^\n]*"problem":"signature"/);
    const sent = await call(BASE, 'POST', '/notifications', {
      token: await tokenFor(4),
      body: { toId: 1, message: `logged ${randomUUID()}` },
    });
    expect(sent.status).toBe(202);
    const key = await issuerKey(issuer, testIssuerPath());
    const forged = await sign(goodClaims(4, nowS()), (await forgerKey()).privateKey, {
      kid: key.kid,
    });
    tokens.push(forged);
    expectRefusedToken(await call(BASE, 'GET', '/notifications/4', { token: forged }), 'forged');
    await Promise.all([published, refused]);
    const output = offline.output();
    for (const token of tokens.filter((t) => t.length > 20)) {
      const [, payload = '', signature = ''] = token.split('.');
      if (payload.length > 20) expect(output).not.toContain(payload);
      if (signature.length > 20) expect(output).not.toContain(signature);
    }
  });
});

describe('identity under sls offline start with demo mode off', () => {
  let stack: Stack;

  beforeAll(async () => {
    // A stack of its own (topics, consumer groups, store, free ports), as every test's: nothing
    // of a developer's `npm start` beside it, nor of the stack above.
    stack = await startStack({ brokers: brokers(), env: { DEMO_MODE: 'false' } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("refuses the demo's tokenless requests too", async () => {
    const base = stack.base;
    const send = await call(base, 'POST', '/send', {
      form: { fromID: '2', toID: '1', message: 'no token' },
    });
    expect(send.status).toBe(401);
    expect(send.headers.get('www-authenticate')).toBe('Bearer');
    const list = await call(base, 'GET', '/notifications/1');
    expect(list.status).toBe(401);
    expect(list.body).not.toHaveProperty('notifications');
  });
});
