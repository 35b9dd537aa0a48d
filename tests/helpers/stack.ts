import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  type DynaliteHandle,
  ensureConnectionsTable,
  ensureIdempotencyTable,
  ensureInboxTable,
  startDynalite,
} from '../../scripts/lib/dynalite.js';
import { createDocumentClient } from '../../shared/aws/dynamodb-client.js';
import { kafkaClient, unique } from './kafka.js';
import { type Offline, startOffline } from './offline.js';
import { freePorts } from './ports.js';
import { startStoreProcess } from './store-process.js';
import { testIssuer } from './tokens.js';

/**
 * The whole service under a real `sls offline start` with fresh topics, consumer groups and
 * tables, on ports of its own: for the end-to-end and browser tests.
 */
export interface Stack {
  /** `http://127.0.0.1:<httpPort>` */
  readonly base: string;
  /** `ws://127.0.0.1:<websocketPort>` */
  readonly websocketUrl: string;
  readonly storeEndpoint: string;
  readonly inboxTable: string;
  readonly connectionsTable: string;
  /** The notifications topic; its dead-letter topic is `<topic>.dlq`. */
  readonly topic: string;
  readonly offline: Offline;
  /** A DynamoDB client of the store, for what a test reads or plants there itself. */
  readonly dynamo: DynamoDBDocumentClient;
  /** The ids of the connections the store holds for `userId`. */
  connectionsOf(userId: number): Promise<string[]>;
  /** Stops the store, as an outage; its data is kept. */
  stopStore(): Promise<void>;
  /** Starts the store again, on the same port, with its data. */
  startStore(): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** The broker list (tests: `brokers()` of tests/helpers/test-broker.ts). */
  readonly brokers: readonly string[];
  /**
   * The HTTP port; the WebSocket server takes the next one, the Lambda port the one after, the
   * Kafka emulator's state the one after that. By default four free ones.
   */
  readonly httpPort?: number;
  /** Added to the environment of `sls offline start`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra `--param name=value` settings. */
  readonly params?: Readonly<Record<string, string>>;
  /**
   * The store in a process of its own, in memory (no `stopStore`, `startStore`): for a test that
   * times what it measures, so that the store's work under load does not stall the test's own
   * event loop (tests/helpers/store-process.ts). By default it shares the test's process.
   */
  readonly storeProcess?: boolean;
}

const ROOT = join(import.meta.dirname, '../..');

export const startStack = async ({
  brokers,
  httpPort: givenPort,
  params = {},
  env = {},
  storeProcess = false,
}: StackOptions): Promise<Stack> => {
  const httpPort = givenPort ?? (await freePorts());
  const dir = mkdtempSync(join(tmpdir(), 'notifications-stack-'));
  const topic = unique('rt-notifications');
  const inboxTable = unique('rt-inbox');
  const connectionsTable = unique('rt-connections');
  // The Idempotency-Keys' and the per-sender limit's counters.
  const keysTable = unique('rt-keys');
  // The project's local issuer, as `npm start` makes it: the functions read its jwks.json.
  await testIssuer();
  const admin = kafkaClient([...brokers], 'stack', { retries: 3 }).admin();
  await admin.connect();
  let store: Pick<DynaliteHandle, 'endpoint' | 'close'> | undefined;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic, numPartitions: 3 },
        { topic: `${topic}.dlq`, numPartitions: 3 },
      ],
    });
    if (storeProcess) {
      const child = await startStoreProcess({
        INBOX_TABLE: inboxTable,
        CONNECTIONS_TABLE: connectionsTable,
        IDEMPOTENCY_TABLE: keysTable,
      });
      store = { endpoint: child.endpoint, close: child.stop };
    } else {
      store = await startDynalite({ port: 0, path: join(dir, 'store') });
    }
    const storePort = Number(new URL(store.endpoint).port);
    await ensureInboxTable(store.endpoint, inboxTable);
    await ensureConnectionsTable(store.endpoint, connectionsTable);
    await ensureIdempotencyTable(store.endpoint, keysTable);
    const settings: Record<string, string> = {
      topic,
      deadLetterTopic: `${topic}.dlq`,
      consumerGroupId: unique('rt-store'),
      pushConsumerGroupId: unique('rt-push'),
      ...params,
    };
    const offline = await startOffline(
      ROOT,
      {
        KAFKA_BROKERS: brokers.join(','),
        DYNAMODB_ENDPOINT: store.endpoint,
        INBOX_TABLE: inboxTable,
        CONNECTIONS_TABLE: connectionsTable,
        IDEMPOTENCY_TABLE: keysTable,
        ...env,
      },
      {
        args: [
          '--httpPort',
          String(httpPort),
          ...Object.entries(settings).flatMap(([k, v]) => ['--param', `${k}=${v}`]),
        ],
      },
    );
    await offline.waitForOutput(/Kafka processNotifications: joined group/, 60_000);
    await offline.waitForOutput(/Kafka pushNotifications: joined group/, 60_000);
    let opened: Pick<DynaliteHandle, 'close'> | undefined = store;
    const dynamo = createDocumentClient({ endpoint: store.endpoint, region: undefined });
    return {
      base: `http://127.0.0.1:${httpPort}`,
      websocketUrl: `ws://127.0.0.1:${httpPort + 1}`,
      storeEndpoint: store.endpoint,
      inboxTable,
      connectionsTable,
      topic,
      offline,
      dynamo,
      connectionsOf: async (userId) => {
        const { Items = [] } = await dynamo.send(
          new QueryCommand({
            TableName: connectionsTable,
            KeyConditionExpression: 'userId = :u',
            ExpressionAttributeValues: { ':u': userId },
            ConsistentRead: true,
          }),
        );
        return Items.map((i) => String(i.connectionId));
      },
      stopStore: async () => {
        await opened?.close();
        opened = undefined;
      },
      startStore: async () => {
        if (storeProcess) throw new Error('a store of its own process cannot be restarted');
        opened ??= await startDynalite({ port: storePort, path: join(dir, 'store') });
      },
      stop: async () => {
        dynamo.destroy();
        await offline.stop();
        await opened?.close();
        await admin.disconnect();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await store?.close();
    await admin.disconnect();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
};
