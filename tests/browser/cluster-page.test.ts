import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendAs as sendAt } from '../helpers/api-client.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { unique } from '../helpers/kafka.js';
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

  const sendAs = (from: number, to: number, message: string) =>
    sendAt(stack.base, from, to, message);
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
    await page.getByLabel('Topic', { exact: true }).selectOption(stack.topic);
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
