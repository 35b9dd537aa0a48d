import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { createKafka } from '../../shared/kafka/client.js';
import { DEAD_LETTER_HEADERS } from '../../shared/kafka/dead-letters.js';
import {
  KafkaPublisher,
  PUBLISHER_CLIENT_RETRY,
  PUBLISHER_METADATA_MAX_AGE_MS,
} from '../../shared/kafka/publisher.js';
import { createNotification, DEFAULT_USERS } from '../../shared/models/index.js';
import { tokenFor } from '../helpers/api-client.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import {
  leaderKilled,
  openSessions,
  ROLLING_RESTART,
  runClusterScenario,
  type ScenarioResult,
  type Sessions,
  summaryOf,
  twoDown,
} from '../helpers/cluster-faults.js';
import { type FaultStack, startFaultStack } from '../helpers/fault-stack.js';
import { readToEnd, readTopic, unique } from '../helpers/kafka.js';
import { audit, type Outcome, startLoad } from '../helpers/load.js';
import { silentLogger } from '../helpers/logger.js';
import { localKafkaOfRun } from '../helpers/test-broker.js';
import { until } from '../helpers/wait.js';

/**
 * The whole service on three replicated Kafka nodes (replication factor 3, min.insync.replicas
 * 2), under a steady load of POST /send, while nodes are restarted, killed and lost as on Amazon MSK:
 * each request is counted (202, stored once, duplicates, lost, 503, other), never timed (the
 * timings, the gateway's throttles and requests a starved machine left unanswered are
 * bench/reliability.ts's to report). The cluster is the run's own with LOCAL_KAFKA_BROKERS=3,
 * else one started here.
 */

/**
 * A fifth of the benchmark's 50/s (bench/reliability.ts runs these scenarios at 50/s), as the
 * stack's fault test runs at 5/s: on a shared 2-core machine, 50/s through sls offline beside
 * three JVMs (one of them starting) leaves requests waiting for the CPU past their deadline, and
 * the counts asserted here (nothing lost, duplicated or skipped; no 503 in a rolling restart) do
 * not need the rate to be meaningful.
 */
const RATE_PER_SECOND = 10;
const BEFORE_MS = 3_000;
const AFTER_MS = 3_000;
/** How long a killed node (or two) stays down. */
const DOWN_MS = 8_000;

/**
 * Publishers that each send batches after a node stopped: with metadata from before the stop, each
 * of a batch's three coordinator lookups failed one time in 27, so that 30 publishers sending three
 * batches each all succeeded one time in 20,000 (2 of 30 single batches failed in a run).
 */
const COORDINATOR_PUBLISHERS = 30;
const BATCHES_AFTER_STOP = 3;

/** Batches of three notifications (to users 2, 3 and 4: partitions 2, 2 and 1 of 3) per second. */
const BATCHES_PER_SECOND = 1;

/** `POST /notifications` as user 1: one notification to each of users 2, 3 and 4. */
const batchRequest =
  (token: string) =>
  (index: number): RequestInit => ({
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      'idempotency-key': randomUUID(),
    },
    body: JSON.stringify([2, 3, 4].map((toId) => ({ toId, message: `batch ${index} to ${toId}` }))),
  });

/** Writes a record that is not JSON every 2 s until stopped; `written`: each one's partition/offset. */
const poisonWriter = (kafka: Kafka, topic: string) => {
  let stopped = false;
  const written = (async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const places: string[] = [];
    try {
      for (let i = 0; !stopped; i++) {
        const [meta] = await producer
          .send({ topic, acks: -1, messages: [{ key: '4', value: `not JSON ${i}` }] })
          .catch(() => []);
        if (meta) places.push(`${meta.partition}/${meta.baseOffset}`);
        await sleep(2_000);
      }
    } finally {
      await producer.disconnect();
    }
    return places;
  })();
  return {
    written,
    stop: () => {
      stopped = true;
    },
  };
};

describe('three replicated brokers: leaders that move, nodes that die', () => {
  let cluster: TestCluster;
  let stack: FaultStack;
  let sessions: Sessions;
  const earlier: Outcome[] = [];

  beforeAll(async () => {
    cluster = await startTestCluster(localKafkaOfRun());
    stack = await startFaultStack({
      kafka: cluster.kafka,
      brokers: cluster.brokers,
    });
    await stack.offline.waitForOutput(/Kafka pushNotifications: joined group/, 90_000);
    sessions = await openSessions(stack.websocketUrl);
    // Warm: workers started and connected before any fault, as a running service has them.
    let warm = false;
    const warmup = startLoad({
      url: `${stack.base}/send`,
      ratePerSecond: 20,
      request: () => ({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fromID: 1, toID: 2, message: 'warming up' }),
      }),
      done: () => warm,
    });
    await until(
      () => warmup.outcomes.filter((o) => o.status === 202).length >= 40,
      120_000,
      'warm-up 202s',
    );
    warm = true;
    await warmup.finished;
  });

  // What sls offline printed, for the one who reads a failure.
  afterEach(({ task }) => {
    if (task.result?.state !== 'fail' || !stack) return;
    const dir = join(import.meta.dirname, '../../.local/test-logs');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `cluster-${task.name.slice(0, 30).replace(/\W+/g, '-')}.log`);
    writeFileSync(file, stack.offline.output());
    process.stderr.write(`sls offline's output: ${file}\n`);
  });

  afterAll(async () => {
    await sessions?.close();
    await stack?.close();
    await cluster?.close();
  });

  const run = async (
    scenario: Parameters<typeof runClusterScenario>[0]['scenario'],
    onLoadStop?: () => void,
  ) => {
    const result = await runClusterScenario({
      onLoadStop,
      stack,
      cluster,
      sessions,
      scenario,
      ratePerSecond: RATE_PER_SECOND,
      beforeMs: BEFORE_MS,
      afterMs: AFTER_MS,
      earlier,
    });
    process.stderr.write(`[cluster faults] ${summaryOf(result)}\n`);
    return result;
  };

  /**
   * What every scenario must show: nothing acknowledged lost, duplicated or left unread, and both
   * consumers' committed lag back to 0 once the last node is back (within the scenario's guard of
   * 90 s; how soon is the benchmark's to report). A commit refused after the group's coordinator
   * moved (kafkajs#1779) is tried again by the event source until it is accepted.
   */
  const expectEveryAcceptedStoredOnce = (result: ScenarioResult) => {
    expect(result.audit.sent).toBeGreaterThan(0);
    expect(result.audit).toMatchObject({ duplicates: [], lost: [], misplaced: [] });
    expect(result.audit.storedOnce).toBe(result.audit.accepted);
    expect(result.skipped, 'records in Kafka never stored').toEqual([]);
    expect(result.other, "answers other than 202, 503 and the gateway's 500s").toEqual([]);
    expect(result.withoutRetryAfter, '503s without Retry-After').toBe(0);
    expect(result.lagZeroMs, "both consumers' committed lag back to 0").toBeDefined();
  };

  // kafkajs tries the seed brokers in the order given, from the first, for every new producer
  // (kafkajs#1607); the publisher connects without retries, so with node 1 down a new container
  // never published (shared/kafka/client.ts's seedBrokers).
  it('connects new publishers while the first seed broker is down', async () => {
    const [first] = cluster.local.nodes;
    if (!first) throw new Error('no node');
    await cluster.stop(first.id);
    const settings = loadConfig({ KAFKA_BROKERS: cluster.brokers.join(',') });
    const logger = silentLogger();
    const published: number[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        // As a new container of the send function makes it.
        const publisher = new KafkaPublisher(
          createKafka(settings.kafka, logger, { retry: PUBLISHER_CLIENT_RETRY }),
          { topic: stack.topic, timeoutMs: settings.kafka.sendTimeoutMs, logger },
        );
        const [from, to] = DEFAULT_USERS;
        if (!from || !to) throw new Error('no users');
        const notification = createNotification(from, to, `seed ${i}`);
        await publisher
          .publish([notification])
          .then(() => published.push(i))
          .catch(() => undefined);
        await publisher.disconnect();
      }
    } finally {
      await cluster.start(first.id);
      await cluster.inSync([stack.topic]);
    }
    // Without the fix none publishes; with it a first publish may still, on a starved machine,
    // outlive its deadline.
    expect(published.length).toBeGreaterThanOrEqual(6);
  });

  // kafkajs finds a transaction's coordinator (AddPartitionsToTxn, EndTxn) by asking a random
  // broker of the producer's cached metadata (src/cluster/index.js findGroupCoordinator, through
  // src/cluster/brokerPool.js withBroker, which connects to it outside its try): a node that left
  // since the last refresh fails the attempt with ECONNREFUSED, nothing refreshes the metadata,
  // and the client's two retries pick at random again. In a rolling restart the producer last
  // refreshed when the leaders moved away (NOT_LEADER_OR_FOLLOWER), while the stopping node was
  // still registered; here the node that stops leads no partition of the topic, so that nothing
  // else refreshes it either. About one batch in ten failed so (three lookups, each failing one
  // time in 27); the publisher now refreshes metadata older than PUBLISHER_METADATA_MAX_AGE_MS
  // (1 s) before a send.
  it('finds transaction coordinators among the nodes still up after one stopped gracefully', async () => {
    const nodes = cluster.local.nodes.map((n) => n.id);
    const leaving = nodes.at(-1);
    const [first, second] = nodes;
    if (leaving === undefined || first === undefined || second === undefined) {
      throw new Error('three nodes expected');
    }
    const topic = unique('coordinators');
    const admin = cluster.kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [
          {
            topic,
            // Led by the first two nodes only.
            replicaAssignment: [0, 1, 2].map((partition) => ({
              partition,
              replicas: partition % 2 ? [second, first, leaving] : [first, second, leaving],
            })),
          },
        ],
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
    const settings = loadConfig({ KAFKA_BROKERS: cluster.brokers.join(',') });
    const logger = silentLogger();
    const publishers = Array.from(
      { length: COORDINATOR_PUBLISHERS },
      () =>
        new KafkaPublisher(createKafka(settings.kafka, logger, { retry: PUBLISHER_CLIENT_RETRY }), {
          topic,
          timeoutMs: settings.kafka.sendTimeoutMs,
          logger,
        }),
    );
    const [from, ...others] = DEFAULT_USERS;
    if (!from) throw new Error('no users');
    // To users 2, 3 and 4: several keys, a transaction.
    const batch = (label: string) => others.map((to) => createNotification(from, to, label));
    const failures: string[] = [];
    try {
      // Each publisher connected, its metadata listing all three nodes (a first publish that
      // outlives its deadline on a starved machine is tried again).
      for (const publisher of publishers) {
        await until(
          () =>
            publisher.publish(batch('before')).then(
              () => true,
              () => false,
            ),
          20_000,
          'a first batch',
          100,
        );
      }
      await cluster.stop(leaving);
      // Every publisher's metadata from before the stop has aged past the publisher's limit.
      await sleep(PUBLISHER_METADATA_MAX_AGE_MS);
      for (let round = 0; round < BATCHES_AFTER_STOP; round++) {
        for (const [i, publisher] of publishers.entries()) {
          await publisher.publish(batch(`after ${round}/${i}`)).catch((error: Error) => {
            // The 503's cause (KafkaSendError), and kafkajs's error beneath it.
            const cause = error.cause instanceof Error ? error.cause : undefined;
            failures.push(`${round}/${i}: ${String(cause?.cause ?? cause ?? error)}`);
          });
        }
      }
    } finally {
      await Promise.all(publishers.map((p) => p.disconnect()));
      await cluster.start(leaving);
      await cluster.inSync([topic]);
    }
    expect(failures, 'batches refused with a node stopped gracefully').toEqual([]);
  });

  it('rides through a graceful rolling restart (MSK patching): no 503 to single sends, every 202 (single or batch) stored once and pushed, every poison record dead-lettered', async () => {
    // Poison records written beside the load, for the dead-letter producer to carry through too,
    // and batches to three recipients (two partitions: a transaction) while the transaction
    // coordinators move.
    const poison = poisonWriter(cluster.kafka, stack.topic);
    let batchesDone = false;
    const batches = startLoad({
      url: `${stack.base}/notifications`,
      ratePerSecond: BATCHES_PER_SECOND,
      request: batchRequest(await tokenFor(1)),
      done: () => batchesDone,
    });
    // The batches stop with the load: new records would keep the consumers' lag above 0.
    const stopBeside = () => {
      poison.stop();
      batchesDone = true;
    };
    const result = await run(ROLLING_RESTART, stopBeside).finally(stopBeside);
    const batchOutcomes = await batches.finished;
    const written = await poison.written;
    expect(written.length).toBeGreaterThan(0);
    // Read to the end: a dead letter may be there twice (a batch retried after a partial write),
    // and a count reached early would miss others.
    const letters = await readToEnd(cluster.kafka, `${stack.topic}.dlq`);
    const origins = new Set(
      letters.map(({ message }) => {
        const h = message.headers ?? {};
        return `${h[DEAD_LETTER_HEADERS.partition]}/${h[DEAD_LETTER_HEADERS.offset]}`;
      }),
    );
    expect(
      written.filter((w) => !origins.has(w)),
      'poison records not dead-lettered',
    ).toEqual([]);
    // Both groups' lag back to 0: batches end in transaction markers, which the event source
    // commits past (it stayed at 1 per such partition before).
    expectEveryAcceptedStoredOnce(result);
    // MSK's patching moves every leader and coordinator with a controlled shutdown, and single
    // sends ride through it: NOT_LEADER_OR_FOLLOWER or a refused connection, fresh metadata, a
    // retry within the deadline. No 503. The last ones (4 of 253, 11 of 212, 23 of 350 on a quiet
    // machine) followed a batch that failed at once: its transaction coordinator looked up on the
    // node that had left (PUBLISHER_METADATA_MAX_AGE_MS, the test above), or its commit sent to
    // the coordinator that had just moved away, which kafkajs does not retry; the container then
    // refused the batch's partitions for a second (now only after a failure that held its function:
    // REFUSE_AFTER_HOLDING_SHARE).
    expect(result.refused, '503s in a rolling restart').toBe(0);
    // Every request answered 202.
    expect(result.audit.accepted).toBe(result.audit.sent);
    expect(result.unpushed, '202s never pushed to the open session').toEqual([]);
    // Batches: a commit that meets its coordinator moving still fails (kafkajs's commit sends
    // EndTxn once: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS end it, where the Java client
    // finds the coordinator again and retries), and so may a coordinator lookup within a second
    // of a node's stop (one time in 27): a 503 in doubt (the transaction is never committed), at
    // most one per node restarted at 1 batch/s. A gateway's 500 (a function
    // throttled or timed out on a starved machine, as CI saw once) is the machine's, not Kafka's,
    // and stays within 10%. Each accepted one is in Kafka once and stored once.
    const statuses = batchOutcomes.map((o) => o.status);
    const counted = (status: number) => statuses.filter((s) => s === status).length;
    process.stderr.write(
      `[cluster faults] rolling restart's batches: sent ${statuses.length}, 202 ${counted(202)}, 503 ${counted(503)}, 500 ${counted(500)}\n`,
    );
    expect(statuses.length).toBeGreaterThan(0);
    expect(
      statuses.filter((status) => ![202, 503, 500].includes(status)),
      'batches answered otherwise than 202, 503 or a gateway 500',
    ).toEqual([]);
    expect(counted(503), 'batches refused').toBeLessThanOrEqual(cluster.local.nodes.length);
    expect(counted(500)).toBeLessThanOrEqual(Math.ceil(0.1 * statuses.length));
    let batchAudit = audit(batchOutcomes, [], []);
    await until(
      async () => {
        batchAudit = audit(
          batchOutcomes,
          await readTopic(cluster.kafka, stack.topic),
          await stack.storedIds(),
        );
        return batchAudit.storedOnce === batchAudit.accepted;
      },
      60_000,
      'every batch stored',
      1_000,
    ).catch(() => undefined);
    expect(batchAudit).toMatchObject({ duplicates: [], lost: [], misplaced: [] });
    expect(batchAudit.storedOnce).toBe(batchAudit.accepted);
  });

  it('rides through a partition leader killed: 503s only while the cluster fences it, every 202 stored once, consumers resume', async () => {
    const result = await run(leaderKilled(DOWN_MS));
    expectEveryAcceptedStoredOnce(result);
    expect(result.unanswered, 'requests left without an answer').toBe(0);
    expect(result.lateRefusals, '503s after a new leader was elected').toBe(0);
    expect(result.recoverMs, 'a 202 after the new leader').toBeDefined();
    expect(result.unpushed, '202s never pushed to the open session').toEqual([]);
  });

  it('refuses writes fast with two of three nodes down (below min ISR), loses nothing acknowledged, and recovers when a node returns', async () => {
    // Writes are back once a probe of our own (not counted) is accepted.
    const result = await run(
      twoDown(DOWN_MS, async () => {
        await until(
          async () =>
            (
              await fetch(`${stack.base}/send`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ fromID: 3, toID: 4, message: 'probe' }),
              })
            ).status === 202,
          60_000,
          'a 202 with one node back',
          250,
        );
      }),
    );
    expectEveryAcceptedStoredOnce(result);
    expect(result.refused, 'writes refused while below min ISR').toBeGreaterThan(0);
    expect(result.lateRefusals, '503s after writes resumed').toBe(0);
    expect(result.recoverMs, 'a 202 once a node is back').toBeDefined();
  });
});
