import { randomUUID } from 'node:crypto';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_USERS } from '../../shared/models/index.js';
import { CONNECTION_TTL_S } from '../../shared/realtime/connections-table.js';
import type { NotificationPush, ReadPush, ServerMessage } from '../../shared/realtime/messages.js';
import { inboxOf, sendAs, tokenFor } from '../helpers/api-client.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { brokers } from '../helpers/test-broker.js';
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
import { openSocket, protocolsFor, refusal, type TestSocket } from '../helpers/websocket.js';

/**
 * The real-time path through a real `sls offline start`: serverless-offline's WebSocket server
 * and `@connections` API, the offline Kafka event source running the pushing consumer beside the
 * storing one (each in its own group), dynalite, and the read routes.
 */

const EMMA = 1;
const BRUNO = 2;
const RICK = 3;

const isPushOf =
  (id: string) =>
  (m: ServerMessage): m is NotificationPush =>
    m.type === 'notification' && m.notification.id === id;
const isReadOf =
  (id: string) =>
  (m: ServerMessage): m is ReadPush =>
    m.type === 'read' && m.ids.includes(id);

describe('real time under sls offline start', () => {
  let stack: Stack;
  const sockets: TestSocket[] = [];

  const connectAs = async (userId: number) => {
    const socket = await openSocket(stack.websocketUrl, protocolsFor(await tokenFor(userId)));
    sockets.push(socket);
    return socket;
  };

  const send = (fromId: number, toId: number, message: string) =>
    sendAs(stack.base, fromId, toId, message);

  const post = async (path: string, userId: number | undefined) =>
    fetch(`${stack.base}${path}`, {
      method: 'POST',
      headers: userId === undefined ? {} : { authorization: `Bearer ${await tokenFor(userId)}` },
    });

  const inbox = (userId: number) => inboxOf(stack.base, userId);

  const connectionItem = (userId: number, connectionId: string) =>
    stack.dynamo
      .send(
        new GetCommand({
          TableName: stack.connectionsTable,
          Key: { userId, connectionId },
          ConsistentRead: true,
        }),
      )
      .then((r) => r.Item);

  const connectionsOf = (userId: number) => stack.connectionsOf(userId);

  beforeAll(async () => {
    stack = await startStack({ brokers: brokers() });
    // Warm both consumers and the functions: the first push pays for starting their workers.
    const warm = await connectAs(RICK);
    const id = await send(EMMA, RICK, 'Warming up.');
    await warm.next(isPushOf(id), 60_000);
  });

  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()));
    await stack?.stop();
  });

  it('refuses an upgrade as the HTTP routes refuse a request: no token, a forged, expired or malformed one (401), no subprotocol (400)', async () => {
    const url = stack.websocketUrl;
    const forger = await forgerKey();
    const issuer = await testIssuer();
    const own = await issuerKey(issuer, testIssuerPath());
    const expired = await sign(
      { ...goodClaims(EMMA, nowS() - 7_200), exp: nowS() - 60 },
      own.privateKey,
      {
        kid: own.kid,
      },
    );
    const forged = await sign(goodClaims(EMMA, nowS()), forger.privateKey, { kid: forger.kid });
    expect(await refusal(openSocket(url, protocolsFor(undefined)))).toBe(401);
    expect(await refusal(openSocket(url, protocolsFor(forged)))).toBe(401);
    expect(await refusal(openSocket(url, protocolsFor(expired)))).toBe(401);
    expect(await refusal(openSocket(url, protocolsFor(unsecured(goodClaims(EMMA, nowS())))))).toBe(
      401,
    );
    expect(await refusal(openSocket(url, protocolsFor('not.a.token')))).toBe(401);
    // A token of a user the directory does not know: 403, as on the HTTP routes.
    expect(await refusal(openSocket(url, protocolsFor(await tokenFor(999))))).toBe(403);
    expect(await refusal(openSocket(url, ['chat', `bearer.${await tokenFor(EMMA)}`]))).toBe(400);
    await stack.offline.waitForOutput(/token refused/, 30_000);
    expect(stack.offline.output()).not.toContain(forged);
  });

  it('accepts a valid token, selects notifications.v1 (never the token), and answers ping', async () => {
    const socket = await connectAs(EMMA);
    expect(socket.protocol).toBe('notifications.v1');
    socket.send({ action: 'ping' });
    await socket.next((m): m is ServerMessage => m.type === 'pong');
    socket.send({ action: 'shout' });
    const error = await socket.next((m): m is ServerMessage => m.type === 'error');
    expect(error).toMatchObject({ type: 'error', message: expect.stringContaining('ping') });
  });

  it("pushes a notification to both of its recipient's sessions, and to no one else", async () => {
    const tab1 = await connectAs(EMMA);
    const tab2 = await connectAs(EMMA);
    // Every other user, connected: each one's partition is consumed concurrently with Emma's.
    const others = await Promise.all(
      DEFAULT_USERS.filter((u) => u.id !== EMMA).map(async (u) => ({
        userId: u.id,
        socket: await connectAs(u.id),
      })),
    );
    const message = `Live ${randomUUID()}`;
    const id = await send(BRUNO, EMMA, message);
    const [one, two] = await Promise.all([tab1.next(isPushOf(id)), tab2.next(isPushOf(id))]);
    expect(one.notification).toMatchObject({
      id,
      from: { id: BRUNO, name: 'Bruno' },
      to: { id: EMMA, name: 'Emma' },
      message,
      read: false,
    });
    expect(two).toEqual(one);
    // A second one to Emma has her key, so her partition: its push starts once the first one's
    // invocation, every post of it included, has ended. By then any session it reached has it.
    const next = await send(BRUNO, EMMA, `Live again ${randomUUID()}`);
    await Promise.all([tab1.next(isPushOf(next)), tab2.next(isPushOf(next))]);
    // And each other user's session still gets their own notifications, so it is listening.
    for (const other of others) {
      const theirs = await send(EMMA, other.userId, `Their own ${randomUUID()}`);
      await other.socket.next(isPushOf(theirs));
    }
    expect(others.filter((o) => o.socket.received.some(isPushOf(id))).map((o) => o.userId)).toEqual(
      [],
    );
  });

  it('records a connection at $connect and forgets it at $disconnect', async () => {
    const before = new Set(await connectionsOf(BRUNO));
    const socket = await connectAs(BRUNO);
    const [mine] = (await connectionsOf(BRUNO)).filter((c) => !before.has(c));
    expect(mine).toEqual(expect.any(String));
    const item = await connectionItem(BRUNO, mine ?? '');
    expect(item).toMatchObject({
      userId: BRUNO,
      connectedAt: expect.any(Number),
      expiresAt: expect.any(Number),
    });
    // connectedAt in milliseconds; expiresAt, DynamoDB's TTL attribute, in epoch seconds: 2 h 10 min
    // later (API Gateway's 2 h connection limit and a margin).
    const nowMs = Date.now();
    expect(Math.abs(Number(item?.connectedAt) - nowMs)).toBeLessThan(60_000);
    expect(item?.expiresAt).toBe(Math.floor(Number(item?.connectedAt) / 1000) + CONNECTION_TTL_S);
    expect(CONNECTION_TTL_S).toBe(2 * 60 * 60 + 10 * 60);
    await socket.close();
    await until(
      async () => (await connectionItem(BRUNO, mine ?? '')) === undefined,
      30_000,
      'the closed connection to be forgotten',
    );
  });

  it('removes a gone connection (410) and still reaches the live one, without holding it up', async () => {
    const live = await connectAs(RICK);
    // A connection that API Gateway no longer knows: recorded a minute ago, never closed.
    const gone = `gone-${randomUUID()}`;
    const connectedAt = Date.now() - 60_000;
    await stack.dynamo.send(
      new PutCommand({
        TableName: stack.connectionsTable,
        Item: {
          userId: RICK,
          connectionId: gone,
          connectedAt,
          expiresAt: Math.floor(connectedAt / 1000) + CONNECTION_TTL_S,
          // Its token still valid: the session is gone, not ended with its token.
          tokenExpiresAt: nowS() + 3_600,
        },
      }),
    );
    const id = await send(EMMA, RICK, `After a dead tab ${randomUUID()}`);
    await live.next(isPushOf(id));
    await until(async () => (await connectionItem(RICK, gone)) === undefined, 30_000, 'removal');
    await stack.offline.waitForOutput(new RegExp(`gone connection removed[^\\n]*${gone}`), 30_000);
  });

  it('carries unreadCount and read flags, marks one read in every session, and is idempotent', async () => {
    const tab1 = await connectAs(BRUNO);
    const tab2 = await connectAs(BRUNO);
    const first = await send(RICK, BRUNO, `Unread one ${randomUUID()}`);
    const second = await send(RICK, BRUNO, `Unread two ${randomUUID()}`);
    await until(
      async () => {
        const ids = (await inbox(BRUNO)).notifications.map((n) => n.id);
        return ids.includes(first) && ids.includes(second);
      },
      60_000,
      'both stored',
    );
    const before = await inbox(BRUNO);
    expect(before.notifications.find((n) => n.id === first)?.read).toBe(false);

    const response = await post(`/notifications/${first}/read`, BRUNO);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      id: first,
      read: true,
      unreadCount: before.unreadCount - 1,
    });
    const [a, b] = await Promise.all([tab1.next(isReadOf(first)), tab2.next(isReadOf(first))]);
    expect(a).toEqual({ type: 'read', ids: [first], unreadCount: before.unreadCount - 1 });
    expect(b).toEqual(a);
    const after = await inbox(BRUNO);
    expect(after.unreadCount).toBe(before.unreadCount - 1);
    expect(after.notifications.find((n) => n.id === first)?.read).toBe(true);

    const again = await post(`/notifications/${first}/read`, BRUNO);
    expect(again.status).toBe(200);
    expect((await inbox(BRUNO)).unreadCount).toBe(before.unreadCount - 1);
  });

  it("answers 404 for another user's notification and an unknown id, 401 without a token", async () => {
    const id = await send(BRUNO, EMMA, `Emma's own ${randomUUID()}`);
    await until(
      async () => (await inbox(EMMA)).notifications.some((n) => n.id === id),
      60_000,
      'stored',
    );
    const stranger = await post(`/notifications/${id}/read`, RICK);
    expect(stranger.status).toBe(404);
    expect(await stranger.json()).toMatchObject({
      error: { code: 'notification_not_found', field: 'id' },
    });
    expect((await post(`/notifications/${randomUUID()}/read`, EMMA)).status).toBe(404);
    expect((await post(`/notifications/${id}/read`, undefined)).status).toBe(401);
    expect((await post('/notifications/not-an-id/read', EMMA)).status).toBe(400);
    expect((await inbox(EMMA)).notifications.find((n) => n.id === id)?.read).toBe(false);
  });

  it('marks all read and tells every session', async () => {
    const tab = await connectAs(EMMA);
    const id = await send(RICK, EMMA, `Before marking all ${randomUUID()}`);
    await until(
      async () => (await inbox(EMMA)).notifications.some((n) => n.id === id),
      60_000,
      'stored',
    );
    const response = await post('/notifications/read', EMMA);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { marked: number; unreadCount: number };
    expect(body.unreadCount).toBe(0);
    expect(body.marked).toBeGreaterThanOrEqual(1);
    const pushed = await tab.next(isReadOf(id));
    expect(pushed.unreadCount).toBe(0);
    const after = await inbox(EMMA);
    expect(after.unreadCount).toBe(0);
    expect(after.notifications.every((n) => n.read)).toBe(true);
  });
});
