import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerProxy, type FaultStack, startFaultStack } from '../helpers/fault-stack.js';
import { readTopic } from '../helpers/kafka.js';
import { testKafka } from '../helpers/test-broker.js';
import { until } from '../helpers/wait.js';

/**
 * A client's retry with the same Idempotency-Key after a 503 in doubt, through the whole stack
 * (`sls offline start`, the broker behind toxiproxy): the broker writes the first attempt's
 * notification but its answer never comes back before the deadline, so the send function answers
 * 503 "may or may not have been written" and the key is forgotten. The retry publishes again;
 * it must publish the same notification (same id, named in its 202), and the recipient's inbox
 * must hold it once.
 */

const FROM = 2;
const TO = 1;
/** Attempts at getting a 503 in doubt (a send under way when the deadline passed). */
const IN_DOUBT_TRIES = 3;

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly replayed: string | null;
}

interface InboxPage {
  readonly notifications: { id: string; message: string }[];
  readonly unreadCount: number;
  readonly nextCursor?: string;
}

describe('a retry with the same Idempotency-Key after a 503 in doubt', () => {
  const kafka = testKafka('in-doubt-retry');
  let stack: FaultStack;

  beforeAll(async () => {
    stack = await startFaultStack({ kafka });
  });

  afterAll(async () => {
    await stack?.close();
  });

  const send = async (message: string, key?: string): Promise<Answer> => {
    const response = await fetch(`${stack.base}/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify({ fromID: FROM, toID: TO, message }),
      signal: AbortSignal.timeout(30_000),
    });
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown>,
      replayed: response.headers.get('idempotent-replayed'),
    };
  };

  /** Sends until one is accepted: the producer reconnects after a failure, refusing meanwhile. */
  const sendUntilAccepted = async (message: string, key?: string): Promise<Answer> => {
    let answer: Answer | undefined;
    await until(
      async () => {
        answer = await send(message, key);
        return answer.status === 202;
      },
      60_000,
      `a 202 for "${message}"`,
      500,
    );
    if (!answer) throw new Error('no answer');
    return answer;
  };

  const inbox = async (userId: number): Promise<InboxPage> => {
    const all: InboxPage['notifications'] = [];
    let unreadCount = 0;
    let cursor: string | undefined;
    do {
      const query = `?limit=100${cursor ? `&cursor=${cursor}` : ''}`;
      const response = await fetch(`${stack.base}/notifications/${userId}${query}`);
      if (response.status !== 200) throw new Error(`GET inbox: ${response.status}`);
      const page = (await response.json()) as InboxPage;
      all.push(...page.notifications);
      unreadCount = page.unreadCount;
      cursor = page.nextCursor;
    } while (cursor);
    return { notifications: all, unreadCount };
  };

  it('publishes the same notification again, names its id in the 202, and stores it once', async () => {
    const tag = randomUUID().slice(0, 8);
    const known = new Set<string>();
    // Warm: the send function's producer connected, so that the next send is under way (in
    // doubt) when its deadline passes, rather than still connecting (nothing written).
    for (let i = 0; i < 2; i++) {
      known.add(String((await sendUntilAccepted(`warm ${tag} ${i}`)).body.id));
    }

    let message = '';
    let key = '';
    let first: Answer | undefined;
    for (let attempt = 0; attempt < IN_DOUBT_TRIES; attempt++) {
      message = `in doubt ${tag} ${attempt}`;
      key = randomUUID();
      // The broker still reads and writes what it is sent, but its answers are dropped.
      const answersLost = await brokerProxy(stack).addToxic(
        'timeout',
        { timeout: 0 },
        { stream: 'downstream', name: 'answers-lost' },
      );
      try {
        first = await send(message, key);
      } finally {
        await brokerProxy(stack).removeToxic(answersLost);
      }
      if (first.status === 503 && /may or may not/.test(JSON.stringify(first.body))) break;
      if (first.status === 202) known.add(String(first.body.id));
      // Not under way (the producer was still connecting): warm again, try again.
      await sendUntilAccepted(`rewarm ${tag} ${attempt}`).then((a) => known.add(String(a.body.id)));
    }
    expect(first?.status).toBe(503);
    expect(JSON.stringify(first?.body)).toMatch(/may or may not have been written/);

    // Kafka did write it: one record that none of the 202s so far named.
    let written: string[] = [];
    await until(
      async () => {
        const records = await readTopic(kafka, stack.topic);
        written = records.map((r) => r.id).filter((id) => !known.has(id));
        return written.length > 0;
      },
      30_000,
      'the first attempt in Kafka',
      500,
    );
    expect(written).toHaveLength(1);
    const [firstId] = written;

    // The client retries with the same key and body: published again, under the same id.
    const retry = await sendUntilAccepted(message, key);
    expect(retry.replayed).toBeNull();
    expect(retry.body.id).toBe(firstId);
    const records = await readTopic(kafka, stack.topic);
    const copies = records.filter((r) => r.id === firstId);
    expect(copies.length).toBeGreaterThanOrEqual(2);
    expect(copies).toContainEqual({
      id: firstId,
      partition: retry.body.partition,
      offset: retry.body.offset,
    });
    expect(records.filter((r) => !known.has(r.id) && r.id !== firstId)).toEqual([]);

    // Once more: now the key remembers the 202, and nothing is published.
    const replay = await send(message, key);
    expect(replay).toMatchObject({ status: 202, replayed: 'true', body: retry.body });

    // A later notification to the same recipient: same partition, so once it is stored, both
    // copies before it have been processed.
    const after = await sendUntilAccepted(`after ${tag}`);
    await until(
      async () => (await inbox(TO)).notifications.some((n) => n.id === after.body.id),
      60_000,
      'the later notification stored',
      500,
    );
    const { notifications, unreadCount } = await inbox(TO);
    expect(notifications.filter((n) => n.id === firstId)).toEqual([
      expect.objectContaining({ id: firstId, message }),
    ]);
    expect(new Set(notifications.map((n) => n.id)).size).toBe(notifications.length);
    expect(unreadCount).toBe(notifications.length);
    expect((await readTopic(kafka, stack.topic)).filter((r) => r.id === firstId)).toHaveLength(
      copies.length,
    );
  });
});
