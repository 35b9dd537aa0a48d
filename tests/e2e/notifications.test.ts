import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalIssuer } from '../../shared/identity/local-issuer.js';
import { DEAD_LETTER_HEADERS } from '../../shared/kafka/dead-letters.js';
import { createNotification, DEFAULT_USERS, type Notification } from '../../shared/models/index.js';
import { readRecords } from '../helpers/kafka.js';
import type { Offline } from '../helpers/offline.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { brokers, testKafka } from '../helpers/test-broker.js';
import { testIssuer } from '../helpers/tokens.js';
import { until } from '../helpers/wait.js';

/**
 * The whole system through a real `sls offline start` of this service: the producer over HTTP,
 * the real broker, the offline Kafka event source, the consumer, dynalite, and the read API.
 * Topics, consumer groups and tables are fresh for each run (tests/helpers/stack.ts); ports
 * differ from `npm start`'s.
 */

/** The stack's address, once it has started (its ports are free ones). */
let BASE = '';
const [EMMA, BRUNO, RICK, LENA] = DEFAULT_USERS;

interface Listed {
  notifications: Notification[];
  nextCursor?: string;
}

/** Posts `body`, with `token` as the bearer token when given (the demo's `/send` needs none). */
const post = async (path: string, body: string, contentType: string, token?: string) => {
  const response = await fetch(`${BASE}${path}`, {
    method: 'POST',
    body,
    headers: {
      'content-type': contentType,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

const send = (fromId: number, toId: number, message: string) =>
  post(
    '/send',
    new URLSearchParams({ fromID: String(fromId), toID: String(toId), message }).toString(),
    'application/x-www-form-urlencoded',
  );

const list = async (userId: number, query = ''): Promise<Listed> => {
  const response = await fetch(`${BASE}/notifications/${userId}${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Listed;
};

/** Every notification of a user, following cursors to the end. */
const listAll = async (userId: number): Promise<Notification[]> => {
  const all: Notification[] = [];
  let cursor: string | undefined;
  do {
    const page = await list(userId, `?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    all.push(...page.notifications);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
};

describe('notifications end to end under sls offline start', () => {
  const kafka: Kafka = testKafka('notifications-e2e');
  let stack: Stack;
  let producer: Producer;
  let offline: Offline;
  let issuer: LocalIssuer;

  beforeAll(async () => {
    // The project's local issuer, whose keys the functions read (`npm start` makes the same).
    issuer = await testIssuer();
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    stack = await startStack({ brokers: brokers() });
    BASE = stack.base;
    offline = stack.offline;
  });

  afterAll(async () => {
    await producer?.disconnect();
    await stack?.stop();
  });

  it('delivers a posted notification to the consumer', async () => {
    const storedLine = (id: unknown) =>
      new RegExp(`"message":"notification stored"[^\\n]*"notificationId":"${id}"`);
    // The first one also pays for starting both functions' workers.
    const first = await send(RICK?.id ?? 3, LENA?.id ?? 4, 'Warming up.');
    expect(first.status).toBe(202);
    await until(() => storedLine(first.body.id).test(offline.output()), 20_000, 'the first one');

    const { status, body } = await send(
      BRUNO?.id ?? 2,
      EMMA?.id ?? 1,
      'Bruno started following you.',
    );
    expect(status).toBe(202);
    // How soon: bench/e2e-latency.ts (POST to stored).
    await until(() => storedLine(body.id).test(offline.output()), 30_000, 'the consumer log line');
  });

  it("plays the demo's walkthrough: Bruno to Emma, Emma to Bruno, Lena to Emma", async () => {
    const emmaBefore = (await listAll(1)).length;
    expect((await send(2, 1, 'Bruno: demo 1')).status).toBe(202);
    expect((await send(1, 2, 'Emma: demo 2')).status).toBe(202);
    expect((await send(4, 1, 'Lena: demo 3')).status).toBe(202);
    await until(async () => (await listAll(1)).length >= emmaBefore + 2, 15_000, "Emma's inbox");
    await until(
      async () => (await list(2)).notifications.some((n) => n.message === 'Emma: demo 2'),
      15_000,
      "Bruno's inbox",
    );

    const emma = (await list(1, '?limit=2')).notifications;
    expect(emma.map((n) => [n.from.name, n.message])).toEqual([
      ['Lena', 'Lena: demo 3'],
      ['Bruno', 'Bruno: demo 1'],
    ]);
    expect(emma[0]).toMatchObject({ from: LENA, to: EMMA });
    const bruno = (await list(2, '?limit=1')).notifications;
    expect(bruno).toEqual([
      expect.objectContaining({ from: EMMA, to: BRUNO, message: 'Emma: demo 2' }),
    ]);
  });

  it('makes 1,000 notifications to the four users each readable exactly once, in per-user order', async () => {
    const runTag = randomUUID().slice(0, 8);
    const sent = new Map<number, string[]>(DEFAULT_USERS.map((u) => [u.id, []]));
    for (let batch = 0; batch < 10; batch++) {
      // Each batch from one of the four users in turn, as themself (their own token).
      const fromId = (batch % 4) + 1;
      const items = Array.from({ length: 100 }, (_, i) => {
        const n = batch * 100 + i;
        return { toId: (n % 4) + 1, message: `bulk ${runTag} #${n}` };
      });
      const { status, body } = await post(
        '/notifications',
        JSON.stringify(items),
        'application/json',
        await issuer.issue(fromId),
      );
      expect(status).toBe(202);
      const receipts = body.notifications as { id: string }[];
      receipts.forEach((r, i) => {
        sent.get(items[i]?.toId ?? 0)?.push(r.id);
      });
    }
    const mine = (n: Notification) => n.message.startsWith(`bulk ${runTag} `);
    await until(
      async () => {
        const counts = await Promise.all(
          DEFAULT_USERS.map(async (u) => (await listAll(u.id)).filter(mine).length),
        );
        return counts.every((c) => c >= 250);
      },
      60_000,
      'all 1,000 notifications to be stored',
    );
    for (const user of DEFAULT_USERS) {
      const read = (await listAll(user.id)).filter(mine).map((n) => n.id);
      // Newest first: the reverse of the order they were sent in.
      expect(read).toEqual([...(sent.get(user.id) ?? [])].reverse());
    }
  });

  /** Headers as any producer may write them: `__proto__` and `constructor` are names too. */
  const oddHeaders = () =>
    Object.assign(JSON.parse('{"__proto__":"p"}'), { 'x-origin': 'test', constructor: 'c' });

  it('sends a poison record to the dead-letter topic with its reason, and stores what follows', async () => {
    const valid = createNotification(
      { id: 3, name: 'Rick' },
      { id: 4, name: 'Lena' },
      `after the poison ${randomUUID()}`,
    );
    await producer.send({
      topic: stack.topic,
      acks: -1,
      messages: [
        { key: '4', value: 'this is not JSON', headers: oddHeaders() },
        { key: '4', value: JSON.stringify(valid), headers: oddHeaders() },
      ],
    });
    // The valid record after the poison is stored: the poison holds nothing up.
    await until(
      async () => (await list(4, '?limit=5')).notifications.some((n) => n.id === valid.id),
      30_000,
      'the valid record',
    );

    const [letter] = await readRecords(kafka, `${stack.topic}.dlq`, 1);
    const headers = letter?.message.headers ?? {};
    expect(String(letter?.message.key)).toBe('4');
    expect(String(letter?.message.value)).toBe('this is not JSON');
    expect(String(headers[DEAD_LETTER_HEADERS.topic])).toBe(stack.topic);
    expect(String(headers[DEAD_LETTER_HEADERS.reason])).toBe('the value is not UTF-8 JSON');
    expect(Number(String(headers[DEAD_LETTER_HEADERS.offset]))).toBeGreaterThanOrEqual(0);
    expect(String(headers['x-origin'])).toBe('test');
    // Header names that are properties of every object travel as any other (kafkajs's own
    // reader folds them with what the name already held, hence the last element).
    const last = (v: unknown) => (Array.isArray(v) ? v.at(-1) : v);
    expect(String(last(headers.constructor))).toBe('c');
    expect(String(last(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value))).toBe('p');
  });

  it('retries a batch while the store is down, then stores it once: nothing lost, nothing duplicated', async () => {
    // A failure printed from now on, not one of an earlier test: the outage must bite.
    const failed = offline.waitForLine(
      /Kafka processNotifications \S+ \[\d+(\.\.\d+)?\] \d+ records? \d+ ms failed/,
      60_000,
    );
    failed.catch(() => undefined);
    await stack.stopStore();
    const messages = Array.from({ length: 30 }, (_, i) => ({
      fromId: 1,
      toId: 3,
      message: `outage ${i}`,
    }));
    const { status, body } = await post(
      '/notifications',
      JSON.stringify(messages),
      'application/json',
      await issuer.issue(1),
    );
    expect(status).toBe(202);
    const ids = (body.notifications as { id: string }[]).map((r) => r.id);
    await failed;
    await stack.startStore();
    await until(
      async () => (await listAll(3)).filter((n) => ids.includes(n.id)).length === ids.length,
      60_000,
      'the retried batch to be stored',
    );
    const stored = (await listAll(3)).filter((n) => n.message.startsWith('outage '));
    expect(stored.map((n) => n.id)).toEqual([...ids].reverse());
  });
});
