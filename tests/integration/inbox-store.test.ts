import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DynaliteHandle,
  ensureInboxTable,
  startDynalite,
} from '../../scripts/lib/dynalite.js';
import { ServiceUnavailableError, ValidationError } from '../../shared/errors.js';
import { createDocumentClient } from '../../shared/inbox/client.js';
import { InboxStore } from '../../shared/inbox/store.js';
import type { StoredNotification } from '../../shared/inbox/types.js';
import { createNotification, type Notification } from '../../shared/models/index.js';
import { silentLogger } from '../helpers/logger.js';

const emma = { id: 1, name: 'Emma' };
const bruno = { id: 2, name: 'Bruno' };
const rick = { id: 3, name: 'Rick' };
const T0 = Date.parse('2026-11-24T12:00:00.000Z');

/**
 * `count` notifications from Bruno to `to`, as the consumer sees them: in groups of 7 sharing one
 * `createdAt` (one POST of a batch), at growing offsets of one partition.
 */
const received = (to: typeof emma, count: number, partition = 0): StoredNotification[] =>
  Array.from({ length: count }, (_, i) => ({
    notification: createNotification(
      bruno,
      to,
      `message ${i}`,
      new Date(T0 + Math.floor(i / 7) * 1000),
    ),
    partition,
    offset: String(1_000 + i),
  }));

const newestFirst = (items: readonly StoredNotification[]): Notification[] =>
  [...items].reverse().map((i) => i.notification);

describe('InboxStore on dynalite', () => {
  let dynalite: DynaliteHandle;
  let store: InboxStore;

  /** Every page of `userId`'s inbox, following cursors until none is left. */
  const readAll = async (userId: number, limit: number) => {
    const pages: Notification[][] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list(userId, { limit, ...(cursor ? { cursor } : {}) });
      pages.push(page.notifications);
      cursor = page.nextCursor;
    } while (cursor && pages.length < 100);
    return pages;
  };

  beforeAll(async () => {
    dynalite = await startDynalite({ port: 0 });
    const tableName = `inbox-${randomUUID().slice(0, 8)}`;
    expect(await ensureInboxTable(dynalite.endpoint, tableName)).toBe('created');
    expect(await ensureInboxTable(dynalite.endpoint, tableName)).toBe('exists');
    store = new InboxStore(
      createDocumentClient({ endpoint: dynalite.endpoint, region: undefined }),
      tableName,
      silentLogger(),
    );
  });
  afterAll(async () => {
    await dynalite?.close();
  });

  it('saves 60 notifications in 3 calls, and a redelivery of them stores each once', async () => {
    const items = received(emma, 60);
    expect(await store.save(items)).toEqual({ calls: 3 });
    expect(await store.save(items.map((i) => ({ ...i })))).toEqual({ calls: 3 });
    const pages = await readAll(emma.id, 100);
    expect(pages).toEqual([newestFirst(items)]);
  });

  it('pages newest first through the cursor until exhausted, every notification once', async () => {
    const items = received(rick, 45, 2);
    await store.save(items);
    const pages = await readAll(rick.id, 20);
    expect(pages.map((p) => p.length)).toEqual([20, 20, 5]);
    expect(pages.flat()).toEqual(newestFirst(items));
  });

  it('ends on a full last page without a cursor to an empty one', async () => {
    const lena = { id: 4, name: 'Lena' };
    await store.save(received(lena, 40, 1));
    expect((await readAll(lena.id, 20)).map((p) => p.length)).toEqual([20, 20]);
  });

  it("keeps each user's notifications apart", async () => {
    const ada = { id: 10, name: 'Ada' };
    const grace = { id: 11, name: 'Grace' };
    const forAda = received(ada, 3);
    const forGrace = received(grace, 2);
    await store.save([...forAda, ...forGrace]);
    expect((await readAll(ada.id, 10)).flat()).toEqual(newestFirst(forAda));
    expect((await readAll(grace.id, 10)).flat()).toEqual(newestFirst(forGrace));
    expect(await store.list(12, { limit: 10 })).toEqual({ notifications: [] });
  });

  it("refuses a cursor from another user's inbox", async () => {
    const alan = { id: 20, name: 'Alan' };
    const barbara = { id: 21, name: 'Barbara' };
    await store.save([...received(alan, 3), ...received(barbara, 3)]);
    const { nextCursor } = await store.list(alan.id, { limit: 1 });
    expect(nextCursor).toEqual(expect.any(String));
    const listing = store.list(barbara.id, { limit: 1, cursor: nextCursor ?? '' });
    await expect(listing).rejects.toBeInstanceOf(ValidationError);
    await expect(listing).rejects.toThrow("cursor: was issued for another user's notifications");
  });

  it('answers 503 when the store does not answer', async () => {
    const stopped = await startDynalite({ port: 0 });
    await stopped.close();
    const away = new InboxStore(
      createDocumentClient({ endpoint: stopped.endpoint, region: undefined }),
      'inbox-away',
      silentLogger(),
    );
    await expect(away.list(1, { limit: 1 })).rejects.toBeInstanceOf(ServiceUnavailableError);
  });
});
