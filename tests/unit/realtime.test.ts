import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MissingTokenError, ValidationError } from '../../shared/errors.js';
import { decodeEvent } from '../../shared/kafka/codec.js';
import type { AppMetrics, MetricKey } from '../../shared/metrics.js';
import type { ConnectionRegistry } from '../../shared/realtime/connection-store.js';
import { type Connection, connectionsTableInput } from '../../shared/realtime/connections-table.js';
import type { ConnectionGateway, PostOutcome } from '../../shared/realtime/gateway.js';
import { PUSH_LIMITS, SESSION_LIMITS } from '../../shared/realtime/limits.js';
import type { ServerMessage } from '../../shared/realtime/messages.js';
import { PUSH_DEFAULTS, Pusher } from '../../shared/realtime/pusher.js';
import { connect, readProtocols, stillValid } from '../../shared/use-cases/connections.js';
import { messagesFor, pushNotifications } from '../../shared/use-cases/push-notifications.js';
import { markRead } from '../../shared/use-cases/read-notifications.js';
import { servePage, type WebAssets } from '../../shared/web/page.js';
import { loadEvent } from '../helpers/events.js';
import { silentLogger } from '../helpers/logger.js';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const logger = silentLogger();

/** Connections of users, in memory, as the registry's contract says. */
class FakeRegistry implements ConnectionRegistry {
  readonly items: Connection[] = [];
  failure: Error | undefined;
  async add(userId: number, connectionId: string, tokenExpiresAt: number, now = NOW) {
    const c = { userId, connectionId, connectedAt: now.getTime(), expiresAt: 0, tokenExpiresAt };
    this.items.push(c);
    return c;
  }
  async byId(connectionId: string) {
    return this.items.find((c) => c.connectionId === connectionId);
  }
  async removeById(connectionId: string) {
    this.remove(0, connectionId);
  }
  async remove(_userId: number, connectionId: string) {
    const i = this.items.findIndex((c) => c.connectionId === connectionId);
    if (i >= 0) this.items.splice(i, 1);
  }
  async of(userId: number) {
    if (this.failure) throw this.failure;
    return this.items
      .filter((c) => c.userId === userId)
      .sort((a, b) => a.connectedAt - b.connectedAt);
  }
}

/** Epoch seconds of NOW, and a token expiry an hour after it. */
const NOW_S = Math.floor(NOW.getTime() / 1000);
const VALID = NOW_S + 3_600;

/** Answers each connection as told; records what was posted, in order. */
class FakeGateway implements ConnectionGateway {
  readonly posted: { connectionId: string; message: ServerMessage }[] = [];
  readonly closed: string[] = [];
  async close(connectionId: string): Promise<PostOutcome> {
    this.closed.push(connectionId);
    return 'sent';
  }
  readonly answers = new Map<string, PostOutcome | (() => Promise<PostOutcome>)>();
  async post(connectionId: string, message: ServerMessage): Promise<PostOutcome> {
    const answer = this.answers.get(connectionId) ?? 'sent';
    const outcome = typeof answer === 'function' ? await answer() : answer;
    if (outcome === 'sent') this.posted.push({ connectionId, message });
    return outcome;
  }
}

const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);

const setup = async () => {
  const registry = new FakeRegistry();
  const gateway = new FakeGateway();
  const pusher = new Pusher(registry, gateway, logger, () => NOW);
  return { registry, gateway, pusher };
};

const pong: ServerMessage = { type: 'pong' };

describe('Pusher', () => {
  it("posts every message, in order, to each of the user's connections only", async () => {
    const { registry, gateway, pusher } = await setup();
    await registry.add(1, 'a', VALID, minutesAgo(5));
    await registry.add(1, 'b', VALID, minutesAgo(5));
    await registry.add(2, 'c', VALID, minutesAgo(5));
    const messages: ServerMessage[] = [
      { type: 'read', ids: ['x'], unreadCount: 1 },
      { type: 'read', ids: ['y'], unreadCount: 0 },
    ];
    expect(await pusher.push(1, messages)).toEqual({
      connections: 2,
      sent: 4,
      removed: 0,
      failed: 0,
      expired: 0,
    });
    for (const id of ['a', 'b']) {
      expect(gateway.posted.filter((p) => p.connectionId === id).map((p) => p.message)).toEqual(
        messages,
      );
    }
    expect(gateway.posted.some((p) => p.connectionId === 'c')).toBe(false);
  });

  it('removes a connection that answers 410, and stops posting to it', async () => {
    const { registry, gateway, pusher } = await setup();
    await registry.add(1, 'gone', VALID, minutesAgo(5));
    await registry.add(1, 'live', VALID, minutesAgo(5));
    gateway.answers.set('gone', 'gone');
    expect(await pusher.push(1, [pong, pong])).toMatchObject({ sent: 2, removed: 1 });
    expect(registry.items.map((c) => c.connectionId)).toEqual(['live']);
  });

  it('keeps a 410 connection younger than the grace period: it may still be opening', async () => {
    const { registry, gateway, pusher } = await setup();
    await registry.add(
      1,
      'opening',
      VALID,
      new Date(NOW.getTime() - PUSH_DEFAULTS.CONNECT_GRACE_MS / 2),
    );
    gateway.answers.set('opening', 'gone');
    expect(await pusher.push(1, [pong])).toMatchObject({ removed: 0 });
    expect(registry.items).toHaveLength(1);
  });

  it('never waits on one slow connection to reach the others', async () => {
    const { registry, gateway, pusher } = await setup();
    await registry.add(1, 'slow', VALID, minutesAgo(5));
    await registry.add(1, 'fast', VALID, minutesAgo(5));
    let release = () => {};
    gateway.answers.set(
      'slow',
      () =>
        new Promise<PostOutcome>((resolve) => {
          release = () => resolve('failed');
        }),
    );
    const pushing = pusher.push(1, [pong]);
    await expect.poll(() => gateway.posted.map((p) => p.connectionId)).toEqual(['fast']);
    release();
    expect(await pushing).toMatchObject({ sent: 1, failed: 1 });
  });

  it('never throws: a connections store that fails is counted and logged', async () => {
    const { registry, pusher } = await setup();
    registry.failure = new Error('store down');
    expect(await pusher.push(1, [pong, pong])).toEqual({
      connections: 0,
      sent: 0,
      removed: 0,
      failed: 2,
      expired: 0,
    });
  });

  it('drops a connection that fails for the rest of the push: no later message waits on it', async () => {
    const { registry, gateway, pusher } = await setup();
    await registry.add(1, 'slow', VALID, minutesAgo(5));
    await registry.add(1, 'fast', VALID, minutesAgo(5));
    let asked = 0;
    gateway.answers.set('slow', async () => {
      asked++;
      return 'failed';
    });
    expect(await pusher.push(1, [pong, pong, pong])).toMatchObject({ sent: 3, failed: 1 });
    expect(asked).toBe(1);
  });

  it('pushes nothing to a session whose token has expired: it is told why, closed and forgotten', async () => {
    const { registry, gateway, pusher } = await setup();
    await registry.add(1, 'expired', NOW_S, minutesAgo(5));
    await registry.add(1, 'live', VALID, minutesAgo(5));
    const message: ServerMessage = { type: 'read', ids: ['x'], unreadCount: 0 };
    expect(await pusher.push(1, [message])).toMatchObject({ connections: 1, sent: 1, expired: 1 });
    expect(gateway.posted.find((p) => p.connectionId === 'expired')?.message).toMatchObject({
      type: 'closing',
      reason: 'token_expired',
    });
    expect(gateway.posted.find((p) => p.connectionId === 'live')?.message).toEqual(message);
    expect(
      gateway.posted.filter((p) => p.connectionId === 'expired').map((p) => p.message.type),
    ).toEqual(['closing']);
    expect(gateway.closed).toEqual(['expired']);
    expect(registry.items.map((c) => c.connectionId)).toEqual(['live']);
  });

  it('counts a connection recorded without a token expiry (an older version) as expired', async () => {
    const { registry, gateway, pusher } = await setup();
    registry.items.push({ userId: 1, connectionId: 'old', connectedAt: 0, expiresAt: VALID });
    expect(await pusher.push(1, [pong])).toMatchObject({ connections: 0, sent: 0, expired: 1 });
    expect(gateway.closed).toEqual(['old']);
  });
});

describe('sessions per user', () => {
  const connectAs = (registry: FakeRegistry, gateway: FakeGateway, connectionId: string) =>
    connect(
      { connectionId, protocols: 'notifications.v1, bearer.t' },
      {
        connections: registry,
        authenticator: { sessionOfToken: async () => ({ userId: 7, expiresAt: VALID }) },
        closer: new Pusher(registry, gateway, logger, () => NOW),
        logger,
      },
    );

  it(`closes the oldest past ${SESSION_LIMITS.PER_USER}, each told why, and keeps the newest`, async () => {
    const registry = new FakeRegistry();
    const gateway = new FakeGateway();
    for (let i = 0; i < SESSION_LIMITS.PER_USER + 3; i++) {
      // Each a minute younger than the one before.
      registry.add = async (userId, connectionId, tokenExpiresAt) => {
        const c = {
          userId,
          connectionId,
          connectedAt: NOW.getTime() + i * 60_000,
          expiresAt: 0,
          tokenExpiresAt,
        };
        registry.items.push(c);
        return c;
      };
      await connectAs(registry, gateway, `s${i}`);
    }
    expect(registry.items.map((c) => c.connectionId)).toEqual(['s3', 's4', 's5', 's6', 's7']);
    expect(gateway.closed).toEqual(['s0', 's1', 's2']);
    for (const id of gateway.closed) {
      expect(gateway.posted.find((p) => p.connectionId === id)?.message).toMatchObject({
        type: 'closing',
        reason: 'session_limit',
      });
    }
  });
});

describe('a message on a session', () => {
  it('closes the session when its token has expired, and answers otherwise', async () => {
    const registry = new FakeRegistry();
    const gateway = new FakeGateway();
    const deps = {
      connections: registry,
      closer: new Pusher(registry, gateway, logger, () => NOW),
    };
    await registry.add(1, 'fresh', VALID);
    await registry.add(1, 'stale', NOW_S - 1);
    expect(await stillValid('fresh', deps, NOW)).toBe(true);
    expect(await stillValid('unknown', deps, NOW)).toBe(true);
    expect(await stillValid('stale', deps, NOW)).toBe(false);
    expect(gateway.closed).toEqual(['stale']);
  });
});

/** The notifications a pushed message carries. */
const carried = (m: ServerMessage) =>
  m.type === 'notification' ? [m.notification] : m.type === 'notifications' ? m.notifications : [];

describe('messagesFor', () => {
  const n = (i: number) => ({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    from: { id: 1, name: 'Emma' },
    to: { id: 2, name: 'Bruno' },
    message: `m${i}`,
    createdAt: NOW.toISOString(),
  });

  it('pushes one notification as it is', () => {
    expect(messagesFor([n(1)])).toEqual([
      { type: 'notification', notification: { ...n(1), read: false } },
    ]);
  });

  it(`pushes several in one message: the newest ${PUSH_LIMITS.NOTIFICATIONS_PER_RECIPIENT}, in order, and how many it skipped`, () => {
    expect(messagesFor([n(1), n(2)])).toEqual([
      {
        type: 'notifications',
        notifications: [n(1), n(2)].map((x) => ({ ...x, read: false })),
        skipped: 0,
      },
    ]);
    const many = Array.from({ length: 100 }, (_, i) => n(i));
    const [message, ...more] = messagesFor(many);
    expect(more).toEqual([]);
    expect(message).toMatchObject({
      type: 'notifications',
      skipped: 100 - PUSH_LIMITS.NOTIFICATIONS_PER_RECIPIENT,
    });
    expect(carried(message as ServerMessage).map((x) => x.message)).toEqual(
      many.slice(-PUSH_LIMITS.NOTIFICATIONS_PER_RECIPIENT).map((x) => x.message),
    );
  });
});

describe('pushNotifications', () => {
  it('pushes each valid notification to its recipient as unread, skips poison, counts', async () => {
    const pushed: { userId: number; messages: readonly ServerMessage[] }[] = [];
    const metrics: Partial<Record<MetricKey, number>> = {};
    const recorder: AppMetrics = {
      add: (key, value) => {
        metrics[key] = value;
      },
      flush: () => {},
    };
    const outcome = await pushNotifications(decodeEvent(loadEvent('msk-notifications.json')), {
      pusher: {
        push: async (userId, messages) => {
          pushed.push({ userId, messages });
          return { connections: 1, sent: messages.length, removed: 0, failed: 0, expired: 0 };
        },
      },
      logger,
      metrics: recorder,
    });
    const all = pushed.flatMap((p) => p.messages.flatMap(carried));
    expect(all.length).toBe(outcome.notifications);
    expect(all.every((n) => n.read === false)).toBe(true);
    for (const { userId, messages } of pushed) {
      // One message per recipient and batch.
      expect(messages).toHaveLength(1);
      for (const n of messages.flatMap(carried)) expect(n.to.id).toBe(userId);
    }
    expect(metrics.pushed).toBe(outcome.sent);
    const poison = await pushNotifications(decodeEvent(loadEvent('msk-poison.json')), {
      pusher: {
        push: async () => ({ connections: 0, sent: 0, removed: 0, failed: 0, expired: 0 }),
      },
      logger,
      metrics: recorder,
    });
    expect(poison.skipped).toBeGreaterThan(0);
  });

  it('pushes a notification that two records of the batch carry once', async () => {
    const results = decodeEvent(loadEvent('msk-notifications.json'));
    const first = results.find((r) => r.ok);
    if (!first?.ok) throw new Error('no notification in the sample');
    // A client's retry after a 503 in doubt: the same notification again, at a later offset.
    const again = { ...first, record: { ...first.record, offset: first.record.offset + 1_000 } };
    const pushed: ServerMessage[] = [];
    const outcome = await pushNotifications([...results, again], {
      pusher: {
        push: async (_, messages) => {
          pushed.push(...messages);
          return { connections: 1, sent: messages.length, removed: 0, failed: 0, expired: 0 };
        },
      },
      logger,
      metrics: { add: () => {}, flush: () => {} },
    });
    const ids = pushed.flatMap(carried).map((n) => n.id);
    expect(ids.filter((id) => id === first.notification.id)).toHaveLength(1);
    expect(ids).toHaveLength(results.filter((r) => r.ok).length);
    expect(outcome).toMatchObject({ repeated: 1, notifications: ids.length });
  });
});

describe('$connect', () => {
  it('needs the notifications.v1 subprotocol and reads the token from bearer.<token>', () => {
    expect(readProtocols('notifications.v1, bearer.abc.def.ghi')).toBe('abc.def.ghi');
    expect(readProtocols('notifications.v1')).toBeUndefined();
    expect(() => readProtocols('chat, bearer.x')).toThrow(ValidationError);
    expect(() => readProtocols(undefined)).toThrow(/must offer the subprotocol notifications.v1/);
  });

  it('never echoes the token in the error that names the missing subprotocol', () => {
    expect(() => readProtocols('chat, bearer.secret')).toThrow(/received chat$/);
  });

  it('refuses a connection without a token before asking the verifier', async () => {
    const registry = new FakeRegistry();
    const asked: string[] = [];
    const deps = {
      connections: registry,
      authenticator: {
        sessionOfToken: async (token: string) => {
          asked.push(token);
          return { userId: 1, expiresAt: VALID };
        },
      },
      closer: new Pusher(registry, new FakeGateway(), logger, () => NOW),
      logger,
    };
    await expect(
      connect({ connectionId: 'c1', protocols: 'notifications.v1' }, deps),
    ).rejects.toBeInstanceOf(MissingTokenError);
    expect(asked).toEqual([]);
    expect(
      await connect({ connectionId: 'c2', protocols: 'notifications.v1, bearer.t' }, deps),
    ).toBe(1);
    expect(registry.items.map((c) => [c.userId, c.connectionId])).toEqual([[1, 'c2']]);
  });
});

describe('markRead', () => {
  it('pushes the ids now read to every session, and nothing when nothing changed', async () => {
    const pushed: ServerMessage[][] = [];
    const deps = {
      inbox: {
        markRead: async (_u: number, id: string) => ({
          ids: id === 'new' ? [id] : [],
          unreadCount: 2,
        }),
        markAllRead: async () => ({ ids: ['a', 'b'], unreadCount: 0 }),
      },
      pusher: {
        push: async (_userId: number, messages: readonly ServerMessage[]) => {
          pushed.push([...messages]);
          return { connections: 1, sent: 1, removed: 0, failed: 0, expired: 0 };
        },
      },
      logger,
    };
    await markRead(1, { id: 'new' }, deps);
    await markRead(1, { id: 'old' }, deps);
    await markRead(1, { all: true }, deps);
    expect(pushed).toEqual([
      [{ type: 'read', ids: ['new'], unreadCount: 2 }],
      [{ type: 'read', ids: ['a', 'b'], unreadCount: 0 }],
    ]);
  });
});

describe('the page', () => {
  const assets: WebAssets = {
    'index.html': '<script id="config" type="application/json">{"__config__": true}</script>',
    'app.js': 'console.log(1)',
    'app.css': 'body{}',
  };
  const config = {
    websocketUrl: 'ws://127.0.0.1:3001/</script><script>alert(1)</script>',
    signIn: { kind: 'local' as const },
  };

  it('puts its configuration in the page, unable to close the script element', () => {
    const page = servePage('/', assets, config);
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain('</script><script>');
    const json = page.body.replace(/^.*?>/, '').replace(/<\/script>$/, '');
    expect(JSON.parse(json)).toEqual(config);
    expect(page.headers['content-security-policy']).toContain(
      "connect-src 'self' ws://127.0.0.1:3001",
    );
    // The page is public: no user directory in it (issue 18, finding 4).
    expect(JSON.parse(json)).not.toHaveProperty('users');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it.each([["$'"], ['$`'], ['$&'], ['$$']])(
    'puts a name with %s in the page as it is (no replacement pattern)',
    (name) => {
      const named = { ...config, websocketUrl: `ws://127.0.0.1:3001/${name}</script>` };
      const page = servePage('/', assets, named);
      expect(page.body.match(/<\/script>/g)).toHaveLength(1);
      const json = page.body.replace(/^.*?>/, '').replace(/<\/script>$/, '');
      expect(JSON.parse(json)).toEqual(named);
    },
  );

  it('serves its two assets with their types, and 404 for anything else', () => {
    expect(servePage('/assets/app.js', assets, config).headers['content-type']).toMatch(
      /^text\/javascript/,
    );
    expect(servePage('/assets/app.css', assets, config).body).toBe('body{}');
    expect(servePage('/assets/../../etc/passwd', assets, config).statusCode).toBe(404);
  });
});

describe('connections table', () => {
  it('is the table serverless.yml deploys as ConnectionsTable, with its time to live', () => {
    const resource = JSON.parse(
      readFileSync(
        join(import.meta.dirname, '../../serverless/resources/connections-table.json'),
        'utf8',
      ),
    );
    const { TableName, TimeToLiveSpecification, ...properties } = resource.Properties;
    expect(TableName).toBe(['$', '{param:connectionsTable}'].join(''));
    expect(TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    const { TableName: _name, ...definition } = connectionsTableInput('any');
    expect(properties).toEqual(definition);
  });
});
