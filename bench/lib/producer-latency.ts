import { CompressionTypes } from 'kafkajs';
import { createHandler } from '../../functions/send-notification/handler.js';
import { loadConfig } from '../../shared/config.js';
import { createKafka } from '../../shared/kafka/client.js';
import { KafkaPublisher } from '../../shared/kafka/publisher.js';
import { toRecord } from '../../shared/kafka/records.js';
import { createLogger } from '../../shared/logger.js';
import { createMetrics } from '../../shared/metrics.js';
import { createNotification, DEFAULT_USERS, UserDirectory } from '../../shared/models/index.js';
import { lambdaContext, loadEvent } from '../../tests/helpers/events.js';
import { onAws } from '../../tests/helpers/identity.js';
import {
  createTopic,
  deleteTopics,
  kafkaClient,
  kafkaSettings,
  localBrokers,
  PUBLISHER_LIKE_PRODUCER,
} from '../../tests/helpers/kafka.js';
import { defineFigure, interleave, say } from './figure.js';
import { compareRow, fmt, type Row } from './results.js';
import { median, msSince, percentile } from './stats.js';

/**
 * Producer warm latency, for any path between the client and the broker: the send-notification
 * handler invoked in-process with the real API Gateway event `events/send-json.json` (one
 * notification, so one key: a plain idempotent sendBatch), its producer already connected,
 * against raw kafkajs `producer.send` of the same record with the same settings (idempotent, one
 * request in flight, acks from all replicas, the Java client's partitioner, no compression).
 * One request at a time, as one Lambda container serves them; rounds alternate which path goes
 * first. The loopback figure and the figure through a latency-injecting proxy both use it.
 */

export const GOAL_P50_RATIO = 1.15;

interface Sizes {
  readonly rounds: number;
  readonly perRound: number;
  readonly warmup: number;
}

/** Where the measured clients find the broker, and what it takes to get there. */
export interface Route {
  /** Bootstrap addresses the handler and the raw producer are given. */
  readonly brokers: readonly string[];
  /** Conditions of the route, one sentence each, for the report. */
  readonly facts: readonly string[];
  close(): Promise<void>;
}

export interface ProducerLatencyVariant {
  readonly id: string;
  readonly title: string;
  /** The figure's name in the table. */
  readonly figure: string;
  /** Sets the route up, given the broker the topic lives on (loopback). */
  readonly route: (brokers: readonly string[]) => Promise<Route>;
}

export const defineProducerLatency = (variant: ProducerLatencyVariant) => {
  /** A topic; the route; our handler, built as its module builds it; the raw producer. */
  const setup = async () => {
    const direct = await localBrokers();
    const admin = kafkaClient(direct, 'bench').admin();
    await admin.connect();
    const topic = await createTopic(admin, { prefix: `bench-${variant.id}` });
    const route = await variant.route(direct);

    // Our path, with real logs and metrics written to stdout.
    const logger = createLogger('notifications');
    const publisher = new KafkaPublisher(createKafka(kafkaSettings(route.brokers), logger), {
      topic,
      timeoutMs: 5_000,
      logger,
    });
    const handler = createHandler({
      publisher,
      users: new UserDirectory(DEFAULT_USERS),
      // As on AWS: API Gateway verified the token, the function reads its claims.
      authenticator: onAws(),
      logger,
      metrics: createMetrics(loadConfig({})),
    });
    const event = loadEvent<Parameters<typeof handler>[0]>('send-json.json');
    let invocations = 0;
    const ours = async () => {
      const response = await handler(event, lambdaContext(`bench-${invocations++}`));
      if (response.statusCode !== 202) {
        throw new Error(`the handler answered ${response.statusCode}: ${response.body}`);
      }
    };

    // The baseline: the same record through a raw kafkajs producer, by the same route.
    const producer = kafkaClient(route.brokers, 'bench-baseline').producer({
      ...PUBLISHER_LIKE_PRODUCER,
    });
    await producer.connect();
    const [bruno, emma] = [DEFAULT_USERS[1], DEFAULT_USERS[0]];
    if (!bruno || !emma) throw new Error('the demo users are missing');
    const record = toRecord(createNotification(bruno, emma, 'Bruno started following you.'));
    const raw = async () => {
      await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.None,
        messages: [record],
      });
    };

    return {
      topic,
      record,
      route,
      paths: { ours, raw },
      close: async () => {
        await publisher.disconnect();
        await producer.disconnect();
        await route.close();
        await deleteTopics(admin, [topic]);
        await admin.disconnect();
      },
    };
  };

  type Bench = Awaited<ReturnType<typeof setup>>;

  /** Warm-up, then rounds of sequential requests per path: milliseconds per request. */
  const drive = async ({ paths }: Bench, { rounds, perRound, warmup }: Sizes) => {
    const sample = async (fn: () => Promise<void>): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < perRound; i++) {
        const start = process.hrtime.bigint();
        await fn();
        out.push(msSince(start));
      }
      return out;
    };
    say(`${variant.figure}: warming up (${warmup} each)`);
    for (let i = 0; i < warmup; i++) {
      await paths.ours();
      await paths.raw();
    }
    return interleave(
      rounds,
      { ours: () => sample(paths.ours), base: () => sample(paths.raw) },
      (round, r) =>
        say(
          `${variant.figure} round ${round + 1}/${rounds}: p50 ours ${median(r.ours).toFixed(3)} ms, raw ${median(r.base).toFixed(3)} ms`,
        ),
    );
  };

  /** p50 and p99 per round, ours against raw. */
  const report = (
    { ours, base }: Awaited<ReturnType<typeof drive>>,
    { topic, record, route }: Bench,
    { rounds, perRound, warmup }: Sizes,
  ) => {
    const p50 = { ours: ours.map((r) => median(r)), base: base.map((r) => median(r)) };
    const p99 = {
      ours: ours.map((r) => percentile(r, 99)),
      base: base.map((r) => percentile(r, 99)),
    };
    const row = (metric: string, o: number[], b: number[], goal: boolean): Row =>
      compareRow({
        figure: variant.figure,
        metric,
        oursLabel: 'send-notification handler, in-process, warm',
        baselineLabel: 'raw kafkajs producer.send',
        ours: o,
        baseline: b,
        ...(goal ? { goal: { atMost: GOAL_P50_RATIO } } : {}),
      });
    return {
      id: variant.id,
      title: variant.title,
      rows: [row('p50 (ms)', p50.ours, p50.base, true), row('p99 (ms)', p99.ours, p99.base, false)],
      facts: [
        `${rounds} rounds of ${perRound} sequential requests per path after ${warmup} warm-up requests each; p50 and p99 per round, median and min-max over rounds.`,
        `Topic ${topic}: 3 partitions; one notification (key "1", ${Buffer.byteLength(String(record.value))}-byte JSON value, 2 headers) per request; acks=-1, idempotent, maxInFlightRequests 1, no compression on both paths.`,
        ...route.facts,
        'Our path logs one JSON line per notification and writes one EMF metrics line per request to stdout (as Lambda captures them), here /dev/null; the baseline writes nothing.',
        `What our path adds, in absolute terms: ${fmt((median(p50.ours) - median(p50.base)) * 1000)} µs at p50 over a raw send of ${fmt(median(p50.base) * 1000)} µs.`,
      ],
    };
  };

  return defineFigure({
    sizes: ({ quick }): Sizes =>
      quick ? { rounds: 4, perRound: 100, warmup: 50 } : { rounds: 20, perRound: 300, warmup: 300 },
    setup,
    drive,
    report,
  });
};
