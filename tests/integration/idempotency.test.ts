import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DynaliteHandle,
  ensureIdempotencyTable,
  startDynalite,
} from '../../scripts/lib/dynalite.js';
import {
  IdempotencyKeyInUseError,
  IdempotencyKeyReusedError,
  RetriableError,
} from '../../shared/errors.js';
import {
  createIdempotencyClient,
  DynamoDBIdempotency,
} from '../../shared/idempotency/dynamodb-guard.js';

/** Powertools' Idempotency on a real dynalite, as the send function uses it. */

describe('DynamoDBIdempotency on dynalite', () => {
  let store: DynaliteHandle;
  let guard: DynamoDBIdempotency;
  const key = () => `anonymous:${randomUUID()}`;

  beforeAll(async () => {
    store = await startDynalite({ port: 0 });
    const tableName = `keys-${randomUUID().slice(0, 8)}`;
    expect(await ensureIdempotencyTable(store.endpoint, tableName)).toBe('created');
    guard = new DynamoDBIdempotency({
      tableName,
      client: createIdempotencyClient({ endpoint: store.endpoint, region: undefined }),
      keyPrefix: 'tests',
    });
  });

  afterAll(async () => {
    await store?.close();
  });

  it('runs the work once per key and replays its result', async () => {
    const k = key();
    let runs = 0;
    const work = async () => ({ id: `n-${++runs}`, offset: '7' });
    const first = await guard.once({ key: k, payload: { body: 1 } }, work);
    const second = await guard.once({ key: k, payload: { body: 1 } }, work);
    expect(first).toEqual({ value: { id: 'n-1', offset: '7' }, replayed: false });
    expect(second).toEqual({ value: { id: 'n-1', offset: '7' }, replayed: true });
    expect(runs).toBe(1);
  });

  it('refuses the key with another payload', async () => {
    const k = key();
    await guard.once({ key: k, payload: { body: 1 } }, async () => 'first');
    await expect(
      guard.once({ key: k, payload: { body: 2 } }, async () => 'second'),
    ).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
  });

  it('lets one of two concurrent requests run and tells the other to retry', async () => {
    const k = key();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const first = guard.once({ key: k, payload: {} }, async () => {
      started();
      await held;
      return 'first';
    });
    await running;
    await expect(guard.once({ key: k, payload: {} }, async () => 'second')).rejects.toBeInstanceOf(
      IdempotencyKeyInUseError,
    );
    release();
    expect((await first).value).toBe('first');
    expect(await guard.once({ key: k, payload: {} }, async () => 'third')).toEqual({
      value: 'first',
      replayed: true,
    });
  });

  it('frees the key when the work fails, so that a retry runs it', async () => {
    const k = key();
    await expect(
      guard.once({ key: k, payload: {} }, async () => {
        throw new Error('Kafka down');
      }),
    ).rejects.toThrow('Kafka down');
    expect(await guard.once({ key: k, payload: {} }, async () => 'ran')).toEqual({
      value: 'ran',
      replayed: false,
    });
  });

  it('answers 503, nothing run, when the store does not answer', async () => {
    const down = new DynamoDBIdempotency({
      tableName: 'any',
      client: createIdempotencyClient({ endpoint: 'http://127.0.0.1:1', region: undefined }),
      keyPrefix: 'tests',
    });
    let ran = false;
    const error = await down
      .once({ key: key(), payload: {} }, async () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetriableError);
    expect((error as Error).message).toMatch(/nothing was published/);
    expect(ran).toBe(false);
  });
});
