import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createHandler,
  type SendHandlerDependencies,
} from '../../functions/send-notification/handler.js';
import {
  IdempotencyKeyInUseError,
  IdempotencyKeyReusedError,
  RetriableError,
} from '../../shared/errors.js';
import {
  type IdempotencyGuard,
  type IdempotentCall,
  lazyGuard,
  type Outcome,
  parseIdempotencyKey,
  scopedKey,
} from '../../shared/idempotency/guard.js';
import { idempotencyTableInput } from '../../shared/idempotency/idempotency-table.js';
import type { Placement } from '../../shared/kafka/publisher.js';
import { DEFAULT_USERS, type Notification, UserDirectory } from '../../shared/models/index.js';
import { asCaller, context, httpEvent } from '../helpers/events.js';
import { onAws, SAMPLE_CALLER_ID } from '../helpers/identity.js';
import { silentLogger } from '../helpers/logger.js';
import { recordingMetrics } from '../helpers/metrics.js';

/** An in-memory guard with the contract of the DynamoDB one (tested on dynalite). */
class MemoryGuard implements IdempotencyGuard {
  readonly kept = new Map<string, { payload: string; value: unknown }>();
  readonly running = new Set<string>();

  async once<T>(call: IdempotentCall, work: () => Promise<T>): Promise<Outcome<T>> {
    const payload = JSON.stringify(call.payload);
    const kept = this.kept.get(call.key);
    if (kept) {
      if (kept.payload !== payload) throw new IdempotencyKeyReusedError();
      return { value: kept.value as T, replayed: true };
    }
    if (this.running.has(call.key)) throw new IdempotencyKeyInUseError(1);
    this.running.add(call.key);
    try {
      const value = await work();
      this.kept.set(call.key, { payload, value });
      return { value, replayed: false };
    } finally {
      this.running.delete(call.key);
    }
  }
}

/** A publish that ends as one in doubt does: Kafka wrote it, the deadline passed first. */
const inDoubt = () =>
  new RetriableError(
    'Kafka did not confirm the write in time: the notification may or may not have been written.',
    { retryAfterSeconds: 1 },
  );

const setup = (
  guard: IdempotencyGuard | undefined = new MemoryGuard(),
  { failFirst = 0 }: { failFirst?: number } = {},
) => {
  const published: Notification[][] = [];
  let failures = 0;
  const deps: SendHandlerDependencies = {
    publisher: {
      publish: async (notifications): Promise<Placement[]> => {
        published.push([...notifications]);
        if (failures++ < failFirst) throw inDoubt();
        return notifications.map((_, i) => ({
          partition: 0,
          offset: String(published.length * 10 + i),
        }));
      },
    },
    users: new UserDirectory(DEFAULT_USERS),
    authenticator: onAws(),
    logger: silentLogger(),
    metrics: recordingMetrics().metrics,
    ...(guard ? { idempotency: guard } : {}),
  };
  return { handler: createHandler(deps), published };
};

const post = (body: unknown, key?: string, route = 'POST /notifications') => {
  const event = httpEvent(route, body);
  if (key !== undefined) event.headers = { ...event.headers, 'Idempotency-Key': key };
  return event;
};

const one = { fromId: 2, toId: 1, message: 'hello' };

describe('Idempotency-Key on POST /notifications', () => {
  it('answers a retry with the first answer and publishes nothing new', async () => {
    const { handler, published } = setup();
    const first = await handler(post(one, 'key-1'), context);
    const retry = await handler(post(one, 'key-1'), context);
    expect(first.statusCode).toBe(202);
    expect(retry.statusCode).toBe(202);
    expect(retry.body).toBe(first.body);
    expect(retry.headers?.['idempotent-replayed']).toBe('true');
    expect(first.headers?.['idempotent-replayed']).toBeUndefined();
    expect(published).toHaveLength(1);
  });

  it('refuses the same key with another body (422), naming the header', async () => {
    const { handler, published } = setup();
    await handler(post(one, 'key-2'), context);
    const other = await handler(post({ ...one, message: 'bye' }, 'key-2'), context);
    expect(other.statusCode).toBe(422);
    expect(JSON.parse(other.body ?? '')).toMatchObject({
      error: { code: 'idempotency_key_reused', field: 'Idempotency-Key' },
    });
    expect(published).toHaveLength(1);
  });

  it('tells a duplicate that arrives while the first runs to retry shortly (409, Retry-After)', async () => {
    const guard = new MemoryGuard();
    guard.running.add(scopedKey(`user-${SAMPLE_CALLER_ID}`, 'key-3'));
    const { handler, published } = setup(guard);
    const response = await handler(post(one, 'key-3'), context);
    expect(response.statusCode).toBe(409);
    expect(response.headers?.['retry-after']).toBe('1');
    expect(published).toHaveLength(0);
  });

  it("keeps each caller's keys apart: the same key from another user is another request", async () => {
    const { handler, published } = setup();
    const mine = await handler(post(one, 'key-6'), context);
    const theirs = await handler(
      asCaller(post({ fromId: 3, toId: 1, message: 'other' }, 'key-6'), 3),
      context,
    );
    expect([mine.statusCode, theirs.statusCode]).toEqual([202, 202]);
    expect(published).toHaveLength(2);
  });

  it('keeps keys of the two routes apart and publishes without a key as before', async () => {
    const { handler, published } = setup();
    await handler(post(one), context);
    await handler(post(one), context);
    expect(published).toHaveLength(2);
    const demo = await handler(
      post({ fromID: 2, toID: 1, message: 'hello' }, 'key-4', 'POST /send'),
      context,
    );
    const api = await handler(post(one, 'key-4'), context);
    expect([demo.statusCode, api.statusCode]).toEqual([202, 422]);
  });

  it.each([
    ['', 'empty'],
    ['x'.repeat(256), 'too long'],
    ['has space', 'a space'],
    ['clé', 'not ASCII'],
  ])('refuses the key %j (%s) with 400, publishing nothing', async (key) => {
    const { handler, published } = setup();
    const response = await handler(post(one, key), context);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body ?? '').error.field).toBe('Idempotency-Key');
    expect(published).toHaveLength(0);
  });

  it('publishes a retry after a 503 in doubt with the same ids, and answers them', async () => {
    const { handler, published } = setup(new MemoryGuard(), { failFirst: 1 });
    const batch = [one, { ...one, toId: 3 }];
    const first = await handler(post(batch, 'key-7'), context);
    expect(first.statusCode).toBe(503);
    const retry = await handler(post(batch, 'key-7'), context);
    expect(retry.statusCode).toBe(202);
    const [attempt, again] = published;
    const ids = attempt?.map((n) => n.id);
    expect(again?.map((n) => n.id)).toEqual(ids);
    expect(new Set(ids).size).toBe(2);
    expect(JSON.parse(retry.body ?? '').notifications.map((r: { id: string }) => r.id)).toEqual(
      ids,
    );
  });

  it('gives requests without a key random ids, and other keys or callers other ids', async () => {
    const { handler, published } = setup();
    await handler(post(one), context);
    await handler(post(one), context);
    await handler(post(one, 'key-8'), context);
    await handler(post(one, 'key-9'), context);
    await handler(asCaller(post({ ...one, fromId: 3 }, 'key-8'), 3), context);
    const ids = published.map((p) => p[0]?.id ?? '');
    expect(new Set(ids).size).toBe(5);
    // Random ids are version 4, derived ones version 8.
    expect(ids.map((id) => id[14])).toEqual(['4', '4', '8', '8', '8']);
  });

  it('validates the body before the key is taken: a bad request leaves the key free', async () => {
    const guard = new MemoryGuard();
    const { handler } = setup(guard);
    expect((await handler(post({ ...one, toId: 99 }, 'key-5'), context)).statusCode).toBe(404);
    expect(guard.kept.size).toBe(0);
    expect((await handler(post(one, 'key-5'), context)).statusCode).toBe(202);
  });
});

describe('parseIdempotencyKey', () => {
  it('accepts a key as sent, or quoted as a structured-field string', () => {
    expect(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe(
      '8e03978e-40d5-43e8-bc93-6894a57f9324',
    );
    expect(parseIdempotencyKey('"abc"')).toBe('abc');
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
  });
});

describe('lazyGuard', () => {
  const call = { key: 'user-1:k', payload: { n: 1 } };

  it('loads the guard on the first call that needs it, once, and uses it for every call', async () => {
    const memory = new MemoryGuard();
    let loads = 0;
    const guard = lazyGuard(async () => {
      loads += 1;
      return memory;
    });
    expect(loads).toBe(0);
    const [first, second] = await Promise.all([
      guard.once(call, async () => 'published'),
      guard.once({ ...call, key: 'user-1:other' }, async () => 'also published'),
    ]);
    expect(first).toEqual({ value: 'published', replayed: false });
    expect(second).toEqual({ value: 'also published', replayed: false });
    expect(await guard.once(call, async () => 'again')).toEqual({
      value: 'published',
      replayed: true,
    });
    expect(loads).toBe(1);
  });

  it('loads again on the next call after a load failed, and runs no work meanwhile', async () => {
    let loads = 0;
    const guard = lazyGuard(async () => {
      loads += 1;
      if (loads === 1) throw new Error('module not loaded');
      return new MemoryGuard();
    });
    let worked = 0;
    const work = async () => {
      worked += 1;
      return 'published';
    };
    await expect(guard.once(call, work)).rejects.toThrow('module not loaded');
    expect(worked).toBe(0);
    expect(await guard.once(call, work)).toEqual({ value: 'published', replayed: false });
    expect(loads).toBe(2);
  });
});

describe('idempotency table', () => {
  it('is the table serverless.yml deploys as IdempotencyTable, with TTL on its expiry attribute', () => {
    const resource = JSON.parse(
      readFileSync(
        join(import.meta.dirname, '../../serverless/resources/idempotency-table.json'),
        'utf8',
      ),
    );
    const serverlessYml = readFileSync(join(import.meta.dirname, '../../serverless.yml'), 'utf8');
    expect(serverlessYml).toMatch(
      /^ {6}IdempotencyTable: \$\{file\(\.\/serverless\/resources\/idempotency-table\.json\)\}$/m,
    );
    const { TableName, TimeToLiveSpecification, ...properties } = resource.Properties;
    expect(TableName).toBe(['$', '{param:idempotencyTable}'].join(''));
    expect(TimeToLiveSpecification).toEqual({ AttributeName: 'expiration', Enabled: true });
    const { TableName: _name, ...definition } = idempotencyTableInput('any');
    expect(properties).toEqual(definition);
  });
});
