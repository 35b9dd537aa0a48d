import { randomUUID } from 'node:crypto';
import type { NotificationPush, ServerMessage } from '../../shared/realtime/messages.js';
import { sendAs, tokenFor } from './api-client.js';
import { openSocket, protocolsFor, type TestSocket } from './websocket.js';

/**
 * What an attacker does to the real-time path (issue 18, finding 1), and what the victim sees:
 * for the end-to-end test (tests/e2e/abuse.test.ts) and its benchmark (bench/abuse.ts) alike.
 */

const isPushOf =
  (id: string) =>
  (m: ServerMessage): m is NotificationPush =>
    m.type === 'notification' && m.notification.id === id;

/** The sessions an attacker opened, and how many the service refused while they opened. */
export interface Sessions {
  readonly opened: TestSocket[];
  /** Refused upgrades: 429 (displaced by newer ones while opening) or 502 (throttled). */
  readonly refused: number;
}

/** Opens `count` sessions of `userId`, `atOnce` at a time. */
export const openSessions = async (
  websocketUrl: string,
  userId: number,
  count: number,
  atOnce = 8,
): Promise<Sessions> => {
  const token = await tokenFor(userId);
  const opened: TestSocket[] = [];
  let refused = 0;
  for (let i = 0; i < count; i += atOnce) {
    const tries = Array.from({ length: Math.min(atOnce, count - i) }, () =>
      openSocket(websocketUrl, protocolsFor(token)),
    );
    for (const o of await Promise.allSettled(tries)) {
      if (o.status === 'fulfilled') opened.push(o.value);
      else if ([429, 502].includes((o.reason as { status?: number }).status ?? 0)) refused++;
      else throw o.reason;
    }
  }
  return { opened, refused };
};

/**
 * `fromId` sends `watcher`'s user one notification; resolves with the ms from sending until it
 * is pushed to `watcher`, or Infinity when it is not within `timeoutMs`.
 */
export const pushLatency = async (
  base: string,
  fromId: number,
  toId: number,
  watcher: TestSocket,
  timeoutMs = 30_000,
): Promise<number> => {
  const started = performance.now();
  const id = await sendAs(base, fromId, toId, `Latency ${randomUUID()}`);
  const pushed = await watcher.next(isPushOf(id), timeoutMs).then(
    () => true,
    () => false,
  );
  return pushed ? performance.now() - started : Number.POSITIVE_INFINITY;
};

/** `POST /notifications` of `count` self-notifications as `userId`; resolves with the status. */
export const selfFlood = async (base: string, userId: number, count: number): Promise<Response> =>
  fetch(`${base}/notifications`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await tokenFor(userId)}`,
    },
    body: JSON.stringify(
      Array.from({ length: count }, (_, i) => ({ toId: userId, message: `Flood ${i}` })),
    ),
  });

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};
