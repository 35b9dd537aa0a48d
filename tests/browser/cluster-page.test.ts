import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSE_GROUP_PREFIX } from '../../shared/cluster-view/records.js';
import { toRecord } from '../../shared/kafka/records.js';
import { createNotification, DEFAULT_USERS } from '../../shared/models/index.js';
import { sendAs as sendAt } from '../helpers/api-client.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { createTopic, deleteTopics, readTopic, unique } from '../helpers/kafka.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { localKafkaOfRun } from '../helpers/test-broker.js';
import { until } from '../helpers/wait.js';

/**
 * The local cluster page (web/cluster/) in a real headless Chromium, against the whole service
 * under `sls offline start` on a three-node cluster: what it shows, and that it follows sends,
 * consumption, a stopped store and a stopped leader without reload.
 */

const HTTP_PORT = 3500;
const EMMA = 1;
const BRUNO = 2;
/** The README's screenshot: rewritten with `UPDATE_SCREENSHOT=1`, else taken to a scratch file. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? join(import.meta.dirname, '../../docs/cluster-page.png')
  : join(tmpdir(), `cluster-page-${process.pid}.png`);
/** The guard: a stopped leader is shown down, and its partitions led by another node. */
const FAILOVER_SHOWN_MS = 10_000;
/** Hang guards, not timings. */
const SHOWN_MS = 30_000;

describe('the cluster page in headless Chromium, on three nodes', () => {
  let cluster: TestCluster;
  let stack: Stack;
  let browser: TestBrowser;
  let page: Page;
  let admin: Admin;
  const group = unique('rt-store');
  /** The ids of the notifications this file sent to Bruno (key "2"), in order. */
  const toBruno: string[] = [];
  /** A topic of this file's own, with records that are not notifications. */
  let rawTopic: string | undefined;

  const sendAs = async (from: number, to: number, message: string) => {
    const id = await sendAt(stack.base, from, to, message);
    if (to === BRUNO) toBruno.push(id);
    return id;
  };
  const partitionRow = (partition: number) =>
    page.locator(`table[data-topic="${stack.topic}"] tr[data-partition="${partition}"]`);
  const groupRow = (partition: number) =>
    page.locator(
      `article[data-group="${group}"] tr[data-topic="${stack.topic}"][data-partition="${partition}"]`,
    );
  /** Each partition's end offset, by partition number. */
  const endsOnBroker = async () =>
    new Map(
      (await admin.fetchTopicOffsets(stack.topic))
        .map((o) => [o.partition, Number(o.high)] as const)
        .sort(([a], [b]) => a - b),
    );
  const endsOnPage = async () => {
    const ends = new Map<number, number>();
    for (const p of [0, 1, 2])
      ends.set(p, Number(await partitionRow(p).locator('td.end').textContent()));
    return ends;
  };

  beforeAll(async () => {
    cluster = await startTestCluster(localKafkaOfRun());
    stack = await startStack({
      brokers: cluster.brokers,
      httpPort: HTTP_PORT,
      params: { consumerGroupId: group },
    });
    await stack.offline.waitForOutput(/Kafka processNotifications: joined group/, 90_000);
    admin = cluster.kafka.admin();
    await admin.connect();
    browser = await launchBrowser();
    page = await browser.context.newPage();
    await page.goto(`${stack.base}/cluster`);
  });

  afterAll(async () => {
    await browser?.close();
    if (rawTopic) await deleteTopics(admin, [rawTopic]);
    await admin?.disconnect();
    await stack?.stop();
    await cluster?.close();
  });

  it('shows the three nodes, the active controller, and the partition grid with leaders and replicas', async () => {
    await expect
      .poll(() => page.locator('#status').textContent(), { timeout: SHOWN_MS })
      .toMatch(/^Live/);
    await expect.poll(() => page.locator('li.node.up').count(), { timeout: SHOWN_MS }).toBe(3);
    for (const id of [1, 2, 3])
      await expect(page.locator(`li.node[data-node="${id}"]`).textContent()).resolves.toContain(
        'up',
      );
    await expect(page.locator('li.node', { hasText: 'active controller' }).count()).resolves.toBe(
      1,
    );

    // The emulator's state is on this stack's Lambda port + 1 (HTTP + 3), not `npm start`'s 3003.
    const state = await fetch(`http://127.0.0.1:${HTTP_PORT + 3}/state`);
    expect(state.status).toBe(200);
    await expect(state.json()).resolves.toMatchObject({ version: 1 });

    const status = await cluster.status([stack.topic]);
    for (const p of status.partitions.filter((s) => s.topic === stack.topic)) {
      await expect
        .poll(() => partitionRow(p.partition).locator('td.leader').textContent())
        .toBe(String(p.leader));
      await expect(partitionRow(p.partition).locator('.chip').count()).resolves.toBe(3);
    }
  });

  it('follows sends: end offsets move, the store group catches up and its lag returns to 0', async () => {
    const before = await endsOnBroker();
    for (let i = 0; i < 6; i++) await sendAs(EMMA, BRUNO + (i % 3), `cluster page ${i}`);
    const after = await endsOnBroker();
    expect([...after.values()].reduce((a, b) => a + b)).toBe(
      [...before.values()].reduce((a, b) => a + b) + 6,
    );
    await expect
      .poll(async () => [...(await endsOnPage()).entries()], { timeout: SHOWN_MS })
      .toEqual([...after.entries()]);
    for (const [partition, end] of after) {
      if (end === 0) continue;
      await expect
        .poll(() => groupRow(partition).locator('.committed').textContent(), {
          timeout: SHOWN_MS,
        })
        .toBe(String(end));
      await expect(groupRow(partition).locator('.lag .value').textContent()).resolves.toBe('0');
    }
    // Its members and their assignments are the event source's poller.
    await expect(
      page.locator(`article[data-group="${group}"] .members li`).first().textContent(),
    ).resolves.toMatch(new RegExp(`${stack.topic} \\[`));
  });

  it("the key tool shows the partition the producer really used, as the broker's offsets show", async () => {
    await page.getByLabel('Key (a user id, such as 2)').fill(String(BRUNO));
    await page.locator('#key-form').getByLabel('Topic').selectOption(stack.topic);
    await page.getByRole('button', { name: 'Find partition' }).click();
    await expect
      .poll(() => page.locator('#key-result').textContent(), { timeout: SHOWN_MS })
      .toMatch(/^Key "2" goes to partition \d/);
    const shown = Number(
      /partition (\d+)/.exec((await page.locator('#key-result').textContent()) ?? '')?.[1],
    );

    const before = await endsOnBroker();
    await sendAs(EMMA, BRUNO, 'where does this go?');
    const after = await endsOnBroker();
    const moved = [...after].filter(([p, end]) => end !== before.get(p)).map(([p]) => p);
    expect(moved).toEqual([shown]);
    await expect
      .poll(() => partitionRow(shown).getAttribute('class'), { timeout: SHOWN_MS })
      .toBe('placed');
  });

  it("the key tool lists that key's latest records on its partition, as the broker holds them", async () => {
    await page.getByRole('button', { name: 'Find partition' }).click();
    const table = page.locator('#key-records table.records');
    // Every notification this file sent to Bruno, where the broker holds it, newest first.
    const onBroker = (await readTopic(cluster.kafka, stack.topic))
      .filter((r) => toBruno.includes(r.id))
      .map((r) => ({ partition: r.partition, offset: Number(r.offset), id: r.id }))
      .sort((a, b) => b.offset - a.offset);
    expect(onBroker.map((r) => r.id).sort()).toEqual([...toBruno].sort());
    await expect
      .poll(() => table.getAttribute('data-partition'), { timeout: SHOWN_MS })
      .toBe(String(onBroker[0]?.partition));
    const rows = table.locator('tbody tr');
    await expect
      .poll(
        async () =>
          (await rows.evaluateAll((trs) =>
            trs.map((tr) => ({
              offset: Number(tr.getAttribute('data-offset')),
              id: tr.getAttribute('data-id'),
            })),
          )) as { offset: number; id: string | null }[],
        { timeout: SHOWN_MS },
      )
      .toEqual(onBroker.map(({ offset, id }) => ({ offset, id })));
    await expect(rows.first().locator('td.value').textContent()).resolves.toContain(
      'where does this go?',
    );
    for (const key of await rows.locator('td.key').allTextContents()) expect(key).toBe('2');
  });

  it('shows the latest records of a partition from the keyboard: notifications decoded, the rest raw with its headers', async () => {
    rawTopic = await createTopic(admin, { prefix: 'cluster-raw', partitions: 1 });
    const [emma, bruno] = DEFAULT_USERS;
    if (!emma || !bruno) throw new Error('the default users are missing');
    const notification = createNotification(emma, bruno, 'produced by the test');
    const producer = cluster.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: rawTopic,
      messages: [
        toRecord(notification),
        { key: 'not-a-user', value: 'plain text, not JSON', headers: { trace: 'abc-123' } },
      ],
    });
    await producer.disconnect();

    // The grid's button for the new topic's partition, reached and pressed from the keyboard.
    const show = page.getByRole('button', { name: `Latest records of ${rawTopic} partition 0` });
    await expect.poll(() => show.count(), { timeout: SHOWN_MS }).toBe(1);
    await show.focus();
    await page.keyboard.press('Enter');
    const table = page.locator(`#records table.records[data-topic="${rawTopic}"]`);
    await expect.poll(() => table.locator('tbody tr').count(), { timeout: SHOWN_MS }).toBe(2);
    const [raw, decoded] = [table.locator('tbody tr').nth(0), table.locator('tbody tr').nth(1)];
    await expect(raw.getAttribute('data-offset')).resolves.toBe('1');
    await expect(raw.locator('td.key').textContent()).resolves.toBe('not-a-user');
    await expect(raw.locator('td.headers').textContent()).resolves.toBe('trace: abc-123');
    await expect(raw.locator('td.value').textContent()).resolves.toBe('raw plain text, not JSON');
    await expect(decoded.getAttribute('data-offset')).resolves.toBe('0');
    await expect(decoded.getAttribute('data-id')).resolves.toBe(notification.id);
    await expect(decoded.locator('td.value').textContent()).resolves.toContain(
      `from ${emma.name} (${emma.id}) to ${bruno.name} (${bruno.id}): produced by the test`,
    );
    await expect(decoded.locator('td.headers').textContent()).resolves.toContain(
      'content-type: application/json',
    );

    // The form, by its labels: the latest one only.
    const form = page.locator('#records-form');
    await form.getByLabel('Topic').selectOption(rawTopic);
    await form.getByLabel('Partition', { exact: true }).fill('0');
    await form.getByLabel('Records', { exact: true }).fill('1');
    await form.getByRole('button', { name: 'Show records' }).click();
    await expect.poll(() => table.locator('tbody tr').count(), { timeout: SHOWN_MS }).toBe(1);

    // A bad request says which field; the page's reads leave no group behind, and none is listed.
    const bad = await page.request.get(
      `${stack.base}/cluster/records?topic=${rawTopic}&partition=one`,
    );
    expect(bad.status()).toBe(400);
    await expect(bad.json()).resolves.toMatchObject({ error: { field: 'partition' } });
    const { groups } = await admin.listGroups();
    expect(groups.filter((g) => g.groupId.startsWith(BROWSE_GROUP_PREFIX))).toEqual([]);
    await expect(
      page.locator(`article[data-group^="${BROWSE_GROUP_PREFIX}"]`).count(),
    ).resolves.toBe(0);
  });

  it("shows the mapping's batch in flight and its retries while the store is down, and clears them when it is back", async () => {
    const mapping = page.locator('article.mapping[data-function="processNotifications"]');
    await expect
      .poll(() => mapping.locator('dd').nth(1).textContent(), { timeout: SHOWN_MS })
      .toBe(group);
    // Its one poller owns every partition of the topic.
    await expect
      .poll(() => mapping.locator('.poller').textContent(), { timeout: SHOWN_MS })
      .toContain('Poller 1: partitions [0, 1, 2]');
    await stack.stopStore();
    try {
      await sendAs(EMMA, BRUNO, 'while the store is down');
      await expect
        .poll(() => mapping.locator('.in-flight').count(), { timeout: SHOWN_MS })
        .toBeGreaterThan(0);
      await expect
        .poll(
          async () =>
            Number(
              /(\d+) retries/.exec((await mapping.locator('.retries').textContent()) ?? '')?.[1],
            ),
          {
            timeout: SHOWN_MS,
          },
        )
        .toBeGreaterThan(0);
      await expect(mapping.locator('.last-error').count()).resolves.toBe(1);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await stack.startStore();
    }
    await expect.poll(() => mapping.locator('.in-flight').count(), { timeout: 60_000 }).toBe(0);
    const ends = await endsOnBroker();
    for (const [partition, end] of ends) {
      if (end === 0) continue;
      await expect
        .poll(() => groupRow(partition).locator('.lag .value').textContent(), {
          timeout: SHOWN_MS,
        })
        .toBe('0');
    }
  });

  it('shows a stopped leader down and its partition led by another node within 10 s', async () => {
    const leader = await cluster.leaderOf(stack.topic, 0);
    if (leader === null) throw new Error(`${stack.topic}-0 has no leader`);
    await cluster.stop(leader);
    try {
      const stoppedAt = Date.now();
      await expect
        .poll(() => page.locator(`li.node[data-node="${leader}"]`).getAttribute('class'), {
          timeout: FAILOVER_SHOWN_MS,
        })
        .toBe('node down');
      await expect
        .poll(
          async () => {
            const shown = await partitionRow(0).locator('td.leader').textContent();
            return shown !== String(leader) && shown !== 'none' && shown !== null;
          },
          { timeout: Math.max(1, FAILOVER_SHOWN_MS - (Date.now() - stoppedAt)) },
        )
        .toBe(true);
      // The new leader is the broker's.
      await until(
        async () =>
          String(await cluster.leaderOf(stack.topic, 0)) ===
          (await partitionRow(0).locator('td.leader').textContent()),
        SHOWN_MS,
        'the page and the broker agreeing on the new leader',
      );
    } finally {
      await cluster.start(leader);
    }
    await expect.poll(() => page.locator('li.node.up').count(), { timeout: 90_000 }).toBe(3);
    await cluster.inSync([stack.topic]);
  });
});
