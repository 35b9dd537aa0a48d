import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DynaliteHandle,
  ensureInboxTable,
  startDynalite,
} from '../../scripts/lib/dynalite.js';
import { createDocumentClient } from '../../shared/aws/dynamodb-client.js';
import { NotificationNotFoundError, RetriableError, ValidationError } from '../../shared/errors.js';
import { InboxStore } from '../../shared/inbox/store.js';
import type { StoredNotification } from '../../shared/inbox/types.js';
import { createNotification, type InboxNotification } from '../../shared/models/index.js';
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

/** `list[index]`, which the test knows is there. */
const nth = <T>(list: readonly T[], index: number): T => {
  const value = list[index];
  if (value === undefined) throw new Error(`no item at ${index}`);
  return value;
};

const newestFirst = (items: readonly StoredNotification[]): InboxNotification[] =>
  [...items].reverse().map((i) => ({ ...i.notification, read: false }));

describe('InboxStore on dynalite', () => {
  let dynalite: DynaliteHandle;
  let store: InboxStore;

  /** Every page of `userId`'s inbox, following cursors until none is left. */
  const readAll = async (userId: number, limit: number) => {
    const pages: InboxNotification[][] = [];
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

  it('saves 60 notifications in 1 read and 3 writes; a redelivery of them reads and writes nothing', async () => {
    const items = received(emma, 60);
    expect(await store.save(items)).toEqual({ calls: 4, refused: [] });
    expect(await store.save(items.map((i) => ({ ...i })))).toEqual({ calls: 1, refused: [] });
    const pages = await readAll(emma.id, 100);
    expect(pages).toEqual([newestFirst(items)]);
  });

  it('stores a notification carried by two records (a retry after a 503 in doubt) once, where the first put it', async () => {
    const nora = { id: 40, name: 'Nora' };
    const items = received(nora, 5, 1);
    const first = nth(items, 1);
    // The client's retry published the same id again: later, at another offset.
    const retried: StoredNotification = {
      notification: { ...first.notification, createdAt: new Date(T0 + 60_000).toISOString() },
      partition: 1,
      offset: '5000',
    };
    await store.save(items.slice(0, 3));
    expect(await store.save([...items.slice(3), retried])).toEqual({ calls: 2, refused: [] });
    // Both records in one batch too (a redelivery of both): still one item.
    expect(await store.save([first, retried])).toEqual({ calls: 1, refused: [] });
    const page = await store.list(nora.id, { limit: 10 });
    expect(page.notifications).toEqual(newestFirst(items));
    expect(page.unreadCount).toBe(5);
    // Read, it stays read when the retry's record comes again.
    await store.markRead(nora.id, first.notification.id);
    await store.save([retried]);
    const after = await store.list(nora.id, { limit: 10 });
    expect(after.unreadCount).toBe(4);
    expect(after.notifications.filter((n) => n.read).map((n) => n.id)).toEqual([
      first.notification.id,
    ]);
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
    expect(await store.list(12, { limit: 10 })).toEqual({ notifications: [], unreadCount: 0 });
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

  describe('read state', () => {
    const ida = { id: 30, name: 'Ida' };
    const joan = { id: 31, name: 'Joan' };

    it('counts every unread notification, not only the page, and marks one read', async () => {
      const items = received(ida, 5, 1);
      await store.save(items);
      const before = await store.list(ida.id, { limit: 2 });
      expect(before.unreadCount).toBe(5);
      expect(before.notifications.map((n) => n.read)).toEqual([false, false]);
      const target = nth(items, 3).notification.id;
      expect(await store.markRead(ida.id, target)).toEqual({ ids: [target], unreadCount: 4 });
      const after = await store.list(ida.id, { limit: 5 });
      expect(after.unreadCount).toBe(4);
      expect(after.notifications.filter((n) => n.read).map((n) => n.id)).toEqual([target]);
    });

    it('is idempotent: marking a read one again changes nothing', async () => {
      const [item] = received(joan, 1, 2);
      if (!item) throw new Error('no item');
      await store.save([item]);
      const id = item.notification.id;
      expect(await store.markRead(joan.id, id)).toEqual({ ids: [id], unreadCount: 0 });
      expect(await store.markRead(joan.id, id)).toEqual({ ids: [], unreadCount: 0 });
    });

    it('keeps a read notification read when its record is delivered again', async () => {
      const tess = { id: 32, name: 'Tess' };
      const items = received(tess, 3);
      await store.save(items);
      const id = nth(items, 0).notification.id;
      await store.markRead(tess.id, id);
      await store.save(items.map((i) => ({ ...i })));
      const page = await store.list(tess.id, { limit: 5 });
      expect(page.unreadCount).toBe(2);
      expect(page.notifications.find((n) => n.id === id)?.read).toBe(true);
    });

    it("answers another user's id, and an unknown one, as not found, changing nothing", async () => {
      const uma = { id: 33, name: 'Uma' };
      const vera = { id: 34, name: 'Vera' };
      const [forUma] = received(uma, 1);
      if (!forUma) throw new Error('no item');
      await store.save([forUma, ...received(vera, 1)]);
      const umas = forUma.notification.id;
      await expect(store.markRead(vera.id, umas)).rejects.toBeInstanceOf(NotificationNotFoundError);
      await expect(store.markRead(uma.id, randomUUID())).rejects.toBeInstanceOf(
        NotificationNotFoundError,
      );
      expect((await store.list(uma.id, { limit: 1 })).unreadCount).toBe(1);
    });

    it('marks all read, and says how many are left', async () => {
      const wren = { id: 35, name: 'Wren' };
      const items = received(wren, 12);
      await store.save(items);
      await store.markRead(wren.id, nth(items, 4).notification.id);
      const { ids, unreadCount } = await store.markAllRead(wren.id);
      expect(unreadCount).toBe(0);
      expect([...ids].sort()).toEqual(
        items
          .filter((_, i) => i !== 4)
          .map((i) => i.notification.id)
          .sort(),
      );
      const page = await store.list(wren.id, { limit: 20 });
      expect(page.notifications.every((n) => n.read)).toBe(true);
      expect(await store.markAllRead(wren.id)).toEqual({ ids: [], unreadCount: 0 });
    });
  });

  it('refuses a local table of the shape before notification ids were its key', async () => {
    const tableName = `inbox-old-${randomUUID().slice(0, 8)}`;
    const client = new DynamoDBClient({
      endpoint: dynalite.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const lsi = (name: string) => ({
      IndexName: name,
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' as const },
        { AttributeName: name === 'byId' ? 'id' : name, KeyType: 'RANGE' as const },
      ],
      Projection: { ProjectionType: 'KEYS_ONLY' as const },
    });
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: 'userId', AttributeType: 'N' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'unread', AttributeType: 'S' },
          { AttributeName: 'id', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'userId', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        LocalSecondaryIndexes: [lsi('unread'), lsi('byId')],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    client.destroy();
    await expect(ensureInboxTable(dynalite.endpoint, tableName)).rejects.toThrow(
      `The local table ${tableName} at ${dynalite.endpoint} predates its key (userId HASH, sk RANGE, now userId HASH, id RANGE) and its index timeline, which cannot change on a table: delete the local store`,
    );
  });

  it('answers 503 when the store does not answer', async () => {
    const stopped = await startDynalite({ port: 0 });
    await stopped.close();
    const away = new InboxStore(
      createDocumentClient({ endpoint: stopped.endpoint, region: undefined }),
      'inbox-away',
      silentLogger(),
    );
    await expect(away.list(1, { limit: 1 })).rejects.toBeInstanceOf(RetriableError);
  });
});
