import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { RetriableError } from '../../shared/errors.js';
import { createKafka } from '../../shared/kafka/client.js';
import {
  KafkaPublisher,
  type Placement,
  PUBLISHER_CLIENT_RETRY,
} from '../../shared/kafka/publisher.js';
import { createNotification, DEFAULT_USERS, type Notification } from '../../shared/models/index.js';
import { createTopic, type Placed, readTopic } from '../helpers/kafka.js';
import { silentLogger } from '../helpers/logger.js';
import { testKafka } from '../helpers/test-broker.js';
import { startToxiproxy, type ToxicProxy, type ToxiproxyServer } from '../helpers/toxiproxy.js';
import { until } from '../helpers/wait.js';

/**
 * The publisher under broker faults, on the real broker behind a real proxy: several senders
 * share one publisher (as requests share a warm container, or one process under
 * `sls offline --useInProcess`) while the broker is cut and restored again and again. Whatever
 * the faults, every notification acknowledged is in Kafka exactly once, where its receipt says,
 * and no record is ever written twice.
 */

const SEND_TIMEOUT_MS = 2_000;
const SENDERS = 6;
const CYCLES = 12;
/** A sender's pause after a failure, as a client backs off (and so that failing fast never starves the event loop). */
const BACKOFF_MS = 25;

interface Outcome {
  readonly notifications: readonly Notification[];
  readonly placements?: readonly Placement[];
  readonly error?: unknown;
}

const [emma, bruno, rick, lena] = DEFAULT_USERS as [
  (typeof DEFAULT_USERS)[number],
  (typeof DEFAULT_USERS)[number],
  (typeof DEFAULT_USERS)[number],
  (typeof DEFAULT_USERS)[number],
];
const RECIPIENTS = [emma, rick, lena, bruno];

let toxiproxy: ToxiproxyServer;
let broker: ToxicProxy;

beforeAll(async () => {
  toxiproxy = await startToxiproxy();
  broker = await toxiproxy.proxyBroker();
});

afterAll(async () => {
  await toxiproxy?.stop();
});

/** Sends until `running()` is false; one notification at a time, or two recipients at once (even `index`). */
const sender = async (
  publisher: KafkaPublisher,
  index: number,
  running: () => boolean,
  outcomes: Outcome[],
) => {
  for (let n = 0; running(); n++) {
    const to = RECIPIENTS[(index + n) % RECIPIENTS.length] ?? emma;
    // Half of the senders publish two-recipient batches (a transaction across partitions), so
    // that some of the writes in doubt are batches.
    const notifications =
      index % 2 === 0
        ? [
            createNotification(bruno, to, `batch ${index}.${n} a`),
            createNotification(bruno, to.id === emma.id ? rick : emma, `batch ${index}.${n} b`),
          ]
        : [createNotification(bruno, to, `single ${index}.${n}`)];
    try {
      outcomes.push({ notifications, placements: await publisher.publish(notifications) });
    } catch (error) {
      outcomes.push({ notifications, error });
      await sleep(BACKOFF_MS);
    }
  }
};

describe('the publisher while the broker is cut and restored under load', () => {
  it('never loses or duplicates an acknowledged notification', async () => {
    const kafka = testKafka('publisher-faults');
    const admin = kafka.admin();
    await admin.connect();
    const topic = await createTopic(admin, { prefix: 'faults' });
    await admin.disconnect();

    const settings = loadConfig({ KAFKA_BROKERS: broker.listen });
    const logger = silentLogger();
    // As the send function makes it.
    const publisher = new KafkaPublisher(
      createKafka(settings.kafka, logger, { retry: PUBLISHER_CLIENT_RETRY }),
      {
        topic,
        timeoutMs: SEND_TIMEOUT_MS,
        logger,
      },
    );
    const outcomes: Outcome[] = [];
    let running = true;
    const senders = Array.from({ length: SENDERS }, (_, i) =>
      sender(publisher, i, () => running, outcomes),
    );
    const acknowledged = () => outcomes.filter((o) => o.placements).length;
    const failed = () => outcomes.filter((o) => o.error).length;

    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const ok = acknowledged();
        await until(() => acknowledged() >= ok + 10, 20_000, `202s again in cycle ${cycle}`);
        const ko = failed();
        if (cycle % 2 === 0) {
          // Requests reach the broker, which writes them, but no answer comes back, and the
          // connections close 300 ms later: the writes are in doubt for the client.
          await broker.addToxic('timeout', { timeout: 300 }, { name: 'answers-lost' });
          await until(() => failed() > ko, 10_000, `failures in cycle ${cycle}`);
          await broker.removeToxic('answers-lost');
        } else {
          await broker.down();
          await until(() => failed() > ko, 10_000, `failures in cycle ${cycle}`);
          await broker.up();
        }
      }
    } finally {
      running = false;
      await Promise.all(senders);
      await broker.heal();
      await publisher.disconnect();
    }

    const records = await readTopic(kafka, topic);
    const byId = new Map<string, Placed[]>();
    const at = new Map<string, string>();
    for (const record of records) {
      byId.set(record.id, [...(byId.get(record.id) ?? []), record]);
      at.set(`${record.partition}/${record.offset}`, record.id);
    }

    const unexpected = outcomes.filter((o) => o.error && !(o.error instanceof RetriableError));

    const lost: string[] = [];
    const misplaced: string[] = [];
    for (const outcome of outcomes) {
      outcome.placements?.forEach((placement, i) => {
        const id = outcome.notifications[i]?.id ?? '';
        const found = byId.get(id) ?? [];
        const receipt = `${placement.partition}/${placement.offset}`;
        if (found.length === 0) lost.push(`${id}: receipt ${receipt} holds ${at.get(receipt)}`);
        else if (
          found.length === 1 &&
          (found[0]?.partition !== placement.partition || found[0]?.offset !== placement.offset)
        ) {
          misplaced.push(
            `${id}: receipt ${receipt}, written at ${found[0]?.partition}/${found[0]?.offset}`,
          );
        }
      });
    }
    const duplicated = [...byId].filter(([, found]) => found.length > 1).map(([id]) => id);
    // A batch is all or nothing, also when it failed: read committed, every notification of a
    // refused batch is in the topic, or none is.
    const failedBatches = outcomes.filter((o) => o.error && o.notifications.length > 1);
    const halfWritten = failedBatches
      .filter((o) => {
        const written = o.notifications.filter((n) => byId.has(n.id)).length;
        return written > 0 && written < o.notifications.length;
      })
      .map((o) => o.notifications.map((n) => `${n.message}: ${byId.has(n.id)}`).join(', '));
    expect({
      notServiceUnavailable: unexpected.map((o) => String(o.error)),
      lost,
      misplaced,
      duplicated,
      halfWritten,
    }).toEqual({
      notServiceUnavailable: [],
      lost: [],
      misplaced: [],
      duplicated: [],
      halfWritten: [],
    });
    // Batches did fail, so that the check above bit.
    expect(failedBatches.length).toBeGreaterThan(0);
    // The faults did bite: some sends were under way when their answers were lost.
    const inDoubt = outcomes.filter(
      (o) => o.error instanceof RetriableError && /may or may not/.test(o.error.message),
    );
    expect(inDoubt.length).toBeGreaterThan(0);
    const writtenAnyway = inDoubt.filter((o) => o.notifications.some((n) => byId.has(n.id)));
    const batchesInDoubt = inDoubt.filter((o) => o.notifications.length > 1).length;
    console.info(
      `publisher under faults: ${outcomes.length} publishes, ${acknowledged()} acknowledged, ` +
        `${failed()} refused (${inDoubt.length} in doubt, of which ${writtenAnyway.length} written; ` +
        `${failedBatches.length} two-recipient batches refused, ${batchesInDoubt} of them in doubt)`,
    );
    expect(acknowledged()).toBeGreaterThan(CYCLES * 10);
  }, 120_000);
});
