import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { DEFAULT_USERS } from '../../shared/models/index.js';
import { unique } from './kafka.js';
import { type Offline, startOffline } from './offline.js';
import { freePorts } from './ports.js';
import { startStoreProcess as startStore } from './store-process.js';
import { startToxiproxy, type ToxicProxy, type ToxiproxyServer } from './toxiproxy.js';
import { until } from './wait.js';

/**
 * This service under a real `sls offline start`, with the broker and a dynalite each behind a
 * toxiproxy proxy that every function (and the offline Kafka event source) goes through: for
 * fault tests and the reliability benchmark. Topics, consumer group and tables are fresh. Given
 * `brokers` (a cluster whose nodes the caller stops and starts), the functions reach those
 * directly: there is no broker proxy.
 */

const ROOT = join(import.meta.dirname, '../..');

export interface FaultStack {
  readonly base: string;
  /** serverless-offline's WebSocket server (the HTTP port's next one). */
  readonly websocketUrl: string;
  readonly topic: string;
  /** The storing and the pushing consumers' groups. */
  readonly groups: { readonly store: string; readonly push: string };
  /** The proxy in front of the broker, unless the stack was given `brokers`. */
  readonly broker: ToxicProxy | undefined;
  readonly store: ToxicProxy;
  readonly toxiproxy: ToxiproxyServer;
  readonly offline: Offline;
  /** Every notification id in every user's inbox, one entry per stored item (read via the API). */
  storedIds(): Promise<string[]>;
  close(): Promise<void>;
}

export interface FaultStackOptions {
  /** An admin-capable client on the broker itself (not through the proxy). */
  readonly kafka: Kafka;
  /** By default four free ports (HTTP, WebSocket, Lambda, the Kafka emulator's state). */
  readonly httpPort?: number;
  /** Brokers the functions reach directly (no broker proxy); by default the proxied listener. */
  readonly brokers?: readonly string[];
  /** Extra arguments of `sls offline start`. */
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
}

export const startFaultStack = async ({
  kafka,
  httpPort: givenPort,
  brokers,
  args = [],
  env = {},
}: FaultStackOptions): Promise<FaultStack> => {
  const httpPort = givenPort ?? (await freePorts());
  const groups = { store: unique('faults-consumer'), push: unique('faults-push') };
  const topic = unique('faults');
  const deadLetterTopic = `${topic}.dlq`;
  const inboxTable = unique('faults-inbox');
  const keysTable = unique('faults-keys');
  const toxiproxy = await startToxiproxy();
  const cleanups: (() => Promise<unknown>)[] = [() => toxiproxy.stop()];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const broker = brokers ? undefined : await toxiproxy.proxyBroker();
    const dynalite = await startStore({ INBOX_TABLE: inboxTable, IDEMPOTENCY_TABLE: keysTable });
    cleanups.push(() => dynalite.stop());
    const store = await toxiproxy.proxyTo('dynamodb', new URL(dynalite.endpoint).host);
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await admin.createTopics({
      topics: [
        { topic, numPartitions: 3 },
        { topic: deadLetterTopic, numPartitions: 3 },
      ],
    });
    // Not `waitForLeaders`: a broker just started over many old topics answers metadata for a
    // new one with UNKNOWN_TOPIC_OR_PARTITION for a moment, which kafkajs does not retry.
    await until(
      async () => {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic, deadLetterTopic] });
        return topics.every(
          (t) => t.partitions.length === 3 && t.partitions.every((p) => p.leader >= 0),
        );
      },
      60_000,
      `leaders for ${topic}`,
      200,
    );
    const offline = await startOffline(
      ROOT,
      {
        KAFKA_BROKERS: broker ? broker.listen : (brokers ?? []).join(','),
        DYNAMODB_ENDPOINT: `http://${store.listen}`,
        INBOX_TABLE: inboxTable,
        IDEMPOTENCY_TABLE: keysTable,
        ...env,
      },
      {
        args: [
          '--httpPort',
          String(httpPort),
          // Loads of 50 requests/s from four users pass the per-sender limit (600 a minute).
          '--param',
          'sendRateLimit=0',
          '--param',
          `topic=${topic}`,
          '--param',
          `deadLetterTopic=${deadLetterTopic}`,
          '--param',
          `consumerGroupId=${groups.store}`,
          '--param',
          `pushConsumerGroupId=${groups.push}`,
          ...args,
        ],
        keepChars: 200_000,
      },
    );
    cleanups.push(() => offline.stop());
    await offline.waitForOutput(/Kafka processNotifications: joined group/, 90_000);
    const base = `http://127.0.0.1:${httpPort}`;
    return {
      base,
      websocketUrl: `ws://127.0.0.1:${httpPort + 1}`,
      topic,
      groups,
      broker,
      store,
      toxiproxy,
      offline,
      storedIds: () => storedIds(base),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
};

/** The stack's broker proxy. @throws when the stack reaches its brokers directly */
export const brokerProxy = (stack: FaultStack): ToxicProxy => {
  if (!stack.broker) throw new Error('This stack reaches its brokers directly: no broker proxy');
  return stack.broker;
};

const storedIds = async (base: string): Promise<string[]> => {
  const ids: string[] = [];
  for (const { id: userId } of DEFAULT_USERS) {
    let cursor: string | undefined;
    do {
      const query = `?limit=100${cursor ? `&cursor=${cursor}` : ''}`;
      const response = await fetch(`${base}/notifications/${userId}${query}`);
      if (response.status !== 200) throw new Error(`GET inbox of ${userId}: ${response.status}`);
      const page = (await response.json()) as {
        notifications: { id: string }[];
        nextCursor?: string;
      };
      ids.push(...page.notifications.map((n) => n.id));
      cursor = page.nextCursor;
    } while (cursor);
  }
  return ids;
};
