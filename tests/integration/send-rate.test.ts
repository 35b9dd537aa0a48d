import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DynaliteHandle,
  ensureIdempotencyTable,
  startDynalite,
} from '../../scripts/lib/dynalite.js';
import { RateLimitedError } from '../../shared/errors.js';
import {
  createLimiterClient,
  DynamoDBSendLimiter,
} from '../../shared/limits/dynamodb-send-limiter.js';
import { silentLogger } from '../helpers/logger.js';

/** The per-sender limit on a real dynalite, as the send function counts it (issue 18, finding 2). */

describe('DynamoDBSendLimiter on dynalite', () => {
  let store: DynaliteHandle;
  let tableName: string;
  const limiter = (limit: number, windowS = 60, endpoint = store.endpoint) =>
    new DynamoDBSendLimiter(
      createLimiterClient({ endpoint, region: undefined }),
      tableName,
      { limit, windowS },
      silentLogger(),
    );
  /** The start of a 60 s window, and a moment `s` seconds into it. */
  const windowStart = new Date('2026-12-01T12:00:00.000Z');
  const at = (s: number) => new Date(windowStart.getTime() + s * 1000);

  beforeAll(async () => {
    store = await startDynalite({ port: 0 });
    tableName = `keys-${randomUUID().slice(0, 8)}`;
    await ensureIdempotencyTable(store.endpoint, tableName);
  });

  afterAll(async () => {
    await store?.close();
  });

  it('lets a sender send up to the limit in a window, then refuses with the seconds left', async () => {
    const sender = 101;
    const l = limiter(10);
    await l.take(sender, 6, at(0));
    await l.take(sender, 4, at(10));
    const refused = await l.take(sender, 1, at(15)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect(refused).toMatchObject({ status: 429, code: 'rate_limited', retryAfterSeconds: 45 });
    // A refused request counts nothing; another sender has a count of its own.
    await expect(l.take(sender, 1, at(59))).rejects.toBeInstanceOf(RateLimitedError);
    await l.take(sender + 1, 10, at(15));
    // The next window starts afresh.
    await l.take(sender, 10, at(60));
  });

  it('counts concurrent requests of one sender against one count', async () => {
    const sender = 202;
    const l = limiter(50);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () => l.take(sender, 5, at(1))),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(10);
  });

  it('refuses at once a request larger than the limit; 0 is no limit', async () => {
    await expect(limiter(10).take(303, 11, at(0))).rejects.toBeInstanceOf(RateLimitedError);
    await limiter(0).take(303, 1_000_000, at(0));
  });

  it('lets a request through when its store does not answer (API Gateway still throttles)', async () => {
    // Nothing listens there: the client's tight bounds fail fast, and the request passes.
    await limiter(1, 60, 'http://127.0.0.1:9').take(404, 1, at(0));
  });
});
