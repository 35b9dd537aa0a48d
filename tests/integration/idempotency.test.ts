import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
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
  let tableName: string;
  let client: ReturnType<typeof createIdempotencyClient>;
  const key = () => `anonymous:${randomUUID()}`;

  beforeAll(async () => {
    store = await startDynalite({ port: 0 });
    tableName = `keys-${randomUUID().slice(0, 8)}`;
    expect(await ensureIdempotencyTable(store.endpoint, tableName)).toBe('created');
    client = createIdempotencyClient({ endpoint: store.endpoint, region: undefined });
    guard = new DynamoDBIdempotency({ tableName, client, keyPrefix: 'tests' });
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

  it("keeps a key for 24 hours, as the send function makes it (not Powertools' default of one hour)", async () => {
    // Its own prefix, to find its record: the table keys records by a hash of the key.
    const keyPrefix = `retention-${randomUUID()}`;
    const own = new DynamoDBIdempotency({ tableName, client, keyPrefix });
    const before = Math.floor(Date.now() / 1000);
    await own.once({ key: key(), payload: { body: 1 } }, async () => 'kept');
    const after = Math.ceil(Date.now() / 1000);
    const { Items = [] } = await client.send(new ScanCommand({ TableName: tableName }));
    // Powertools' DynamoDB layer keeps the record's end of life in `expiration` (epoch seconds).
    const expirations = Items.filter((item) => item.id?.S?.startsWith(keyPrefix)).map((item) =>
      Number(item.expiration?.N),
    );
    expect(expirations).toHaveLength(1);
    const [expiration = 0] = expirations;
    expect(expiration).toBeGreaterThanOrEqual(before + 24 * 60 * 60);
    expect(expiration).toBeLessThanOrEqual(after + 24 * 60 * 60);
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
