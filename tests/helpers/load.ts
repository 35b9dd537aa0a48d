import { setTimeout as sleep } from 'node:timers/promises';
import type { Placed } from './kafka.js';

/**
 * A steady stream of requests against a running stack, and the audit of what it acknowledged:
 * for fault tests and the reliability benchmark alike (nothing here depends on the test runner).
 */

/** One request and its answer. Times are `performance.now()` milliseconds. */
export interface Outcome {
  readonly index: number;
  readonly sentAt: number;
  readonly answeredAt: number;
  /** HTTP status, or 0 when no answer came (connection refused, timed out). */
  readonly status: number;
  readonly retryAfter: string | null;
  /** What a 202 acknowledged: each notification's id and where Kafka wrote it. */
  readonly receipts: readonly Placed[];
  readonly body: string;
}

export interface LoadOptions {
  readonly url: string;
  readonly ratePerSecond: number;
  /** The request to send as number `index`. */
  readonly request: (index: number) => RequestInit;
  /** Sending stops once this returns true (checked before each request). */
  readonly done: () => boolean;
  /** Hard bounds, whatever `done` says. */
  readonly maxRequests?: number;
  readonly maxDurationMs?: number;
  /** Longest a request may wait for its answer. */
  readonly requestTimeoutMs?: number;
}

/** A running load: its outcomes so far, and a promise of all of them once it has stopped. */
export interface Load {
  readonly outcomes: Outcome[];
  readonly finished: Promise<Outcome[]>;
}

const receiptsOf = (status: number, body: string): Placed[] => {
  if (status !== 202) return [];
  try {
    const parsed = JSON.parse(body) as Placed | { notifications: Placed[] };
    const list = 'notifications' in parsed ? parsed.notifications : [parsed];
    return list.map(({ id, partition, offset }) => ({ id, partition, offset }));
  } catch {
    return [];
  }
};

/**
 * Sends requests at a steady rate, each without waiting for the one before (an open loop, as
 * independent clients do), until `done()`; `finished` resolves once every answer is in.
 */
export const startLoad = ({
  url,
  ratePerSecond,
  request,
  done,
  maxRequests = 100_000,
  maxDurationMs = 10 * 60_000,
  requestTimeoutMs = 15_000,
}: LoadOptions): Load => {
  const outcomes: Outcome[] = [];
  const inFlight = new Set<Promise<void>>();
  const intervalMs = 1000 / ratePerSecond;
  const started = performance.now();
  const one = async (index: number): Promise<void> => {
    const sentAt = performance.now();
    let status = 0;
    let retryAfter: string | null = null;
    let body = '';
    try {
      const response = await fetch(url, {
        ...request(index),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      body = await response.text();
    } catch (error) {
      body = error instanceof Error ? error.message : String(error);
    }
    outcomes.push({
      index,
      sentAt,
      answeredAt: performance.now(),
      status,
      retryAfter,
      receipts: receiptsOf(status, body),
      body,
    });
  };
  const finished = (async () => {
    for (let index = 0; index < maxRequests; index++) {
      if (done() || performance.now() - started > maxDurationMs) break;
      const request = one(index);
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      const next = started + (index + 1) * intervalMs;
      await sleep(Math.max(0, next - performance.now()));
    }
    await Promise.all(inFlight);
    return outcomes;
  })();
  return { outcomes, finished };
};

/** What a load acknowledged, checked against Kafka and the store. */
export interface Audit {
  readonly sent: number;
  readonly accepted: number;
  /** 202s whose every notification is in Kafka once, where the receipt says, and stored once. */
  readonly storedOnce: number;
  /** Notifications found more than once, in Kafka or in the store. */
  readonly duplicates: readonly string[];
  /** Acknowledged notifications missing from Kafka or from the store. */
  readonly lost: readonly string[];
  /** Acknowledged notifications in Kafka elsewhere than their receipt says. */
  readonly misplaced: readonly string[];
}

/**
 * Checks every acknowledged notification: in Kafka exactly once at the partition and offset its
 * receipt gave, and in the store (`storedIds`, one entry per stored item) exactly once. Any id
 * seen twice anywhere, acknowledged or not, is a duplicate.
 */
export const audit = (
  outcomes: readonly Outcome[],
  records: readonly Placed[],
  storedIds: readonly string[],
): Audit => {
  const inKafka = new Map<string, Placed[]>();
  // Records that are not notifications (poison records written beside the load) carry no id.
  for (const record of records) {
    if (record.id) inKafka.set(record.id, [...(inKafka.get(record.id) ?? []), record]);
  }
  const stored = new Map<string, number>();
  for (const id of storedIds) stored.set(id, (stored.get(id) ?? 0) + 1);
  const lost: string[] = [];
  const misplaced: string[] = [];
  let storedOnce = 0;
  for (const outcome of outcomes) {
    let whole = outcome.receipts.length > 0;
    for (const receipt of outcome.receipts) {
      const found = inKafka.get(receipt.id) ?? [];
      if (found.length === 0 || !stored.has(receipt.id)) {
        lost.push(`${receipt.id} (${found.length === 0 ? 'not in Kafka' : 'not stored'})`);
        whole = false;
      } else if (
        found.length === 1 &&
        (found[0]?.partition !== receipt.partition || found[0]?.offset !== receipt.offset)
      ) {
        misplaced.push(
          `${receipt.id}: receipt ${receipt.partition}/${receipt.offset}, in Kafka at ${found[0]?.partition}/${found[0]?.offset}`,
        );
        whole = false;
      }
      if ((stored.get(receipt.id) ?? 0) !== 1 || found.length !== 1) whole = false;
    }
    if (whole) storedOnce++;
  }
  const duplicates = [
    ...[...inKafka].filter(([, found]) => found.length > 1).map(([id]) => `${id} (Kafka)`),
    ...[...stored].filter(([, n]) => n > 1).map(([id]) => `${id} (store)`),
  ];
  return {
    sent: outcomes.length,
    accepted: outcomes.filter((o) => o.status === 202).length,
    storedOnce,
    duplicates,
    lost,
    misplaced,
  };
};
