import type { MSKEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/process-notifications/handler.js';
import {
  type DynaliteHandle,
  ensureInboxTable,
  startDynalite,
} from '../../scripts/lib/dynalite.js';
import { createDocumentClient } from '../../shared/aws/dynamodb-client.js';
import { loadConfig } from '../../shared/config.js';
import { InboxStore } from '../../shared/inbox/store.js';
import type { StoredNotification } from '../../shared/inbox/types.js';
import { createKafka } from '../../shared/kafka/client.js';
import { DEAD_LETTER_HEADERS, KafkaDeadLetterPublisher } from '../../shared/kafka/dead-letters.js';
import {
  createNotification,
  DEFAULT_USERS,
  type Notification,
  UserDirectory,
} from '../../shared/models/index.js';
import { context } from '../helpers/events.js';
import { createTopic, readRecords, unique } from '../helpers/kafka.js';
import { silentLogger } from '../helpers/logger.js';
import { silentMetrics } from '../helpers/metrics.js';
import { brokers, testKafka } from '../helpers/test-broker.js';

/**
 * Issue 18, finding 2: no store error ever stalls a partition. A record the store refuses for good
 * is dead-lettered with DynamoDB's reason while the records after it are stored; only errors that
 * can heal fail the batch (so that it is delivered again). A real dynalite and a real broker.
 */

const [emma, bruno, rick] = DEFAULT_USERS as [
  (typeof DEFAULT_USERS)[0],
  (typeof DEFAULT_USERS)[0],
  (typeof DEFAULT_USERS)[0],
];

describe('a notification the inbox refuses for good', () => {
  let store: DynaliteHandle;
  let tableName: string;
  const logger = silentLogger();

  beforeAll(async () => {
    store = await startDynalite({ port: 0 });
    tableName = unique('refusal-inbox');
    await ensureInboxTable(store.endpoint, tableName);
  });

  afterAll(async () => {
    await store?.close();
  });

  const inbox = () =>
    new InboxStore(
      createDocumentClient({ endpoint: store.endpoint, region: undefined }),
      tableName,
      logger,
    );

  const storedIds = async (userId: number): Promise<string[]> =>
    (await inbox().list(userId, { limit: 100 })).notifications.map((n) => n.id);

  it("is an item over DynamoDB's 400 KB: dynalite refuses it, and the store names it while writing the others", async () => {
    const at = new Date();
    const items: StoredNotification[] = [0, 1, 2].map((i) => ({
      // Built past the schema (2,000 characters at most), as only a bug or a change of limits
      // could: the store must still not let it hold the others back.
      notification: createNotification(bruno, emma, i === 1 ? 'x'.repeat(420_000) : `ok ${i}`, at),
      partition: 0,
      offset: String(100 + i),
    }));
    const outcome = await inbox().save(items);
    expect(outcome.refused.map((r) => r.item)).toEqual([items[1]]);
    expect(outcome.refused[0]?.reason).toMatch(
      /^the inbox refused it: ValidationException: .*size/i,
    );
    const stored = await storedIds(emma.id);
    expect(stored).toContain(items[0]?.notification.id);
    expect(stored).toContain(items[2]?.notification.id);
    expect(stored).not.toContain(items[1]?.notification.id);
  });

  it('is dead-lettered with its reason by the consumer, and the records after it are stored', async () => {
    const topic = unique('refusal');
    const kafka = testKafka('store-refusal');
    const admin = kafka.admin();
    await admin.connect();
    const dlq = await createTopic(admin, { prefix: 'refusal-dlq', partitions: 1 });
    await admin.disconnect();
    const settings = loadConfig({ KAFKA_BROKERS: brokers().join(',') });
    const deadLetters = new KafkaDeadLetterPublisher(createKafka(settings.kafka, logger), {
      topic: dlq,
      timeoutMs: settings.kafka.sendTimeoutMs,
      logger,
    });
    // Rick's inbox is full: DynamoDB refuses any write to his item collection (10 GB with local
    // indexes), as it would on AWS; dynalite has no such limit, so the refusal is injected at the
    // client's boundary, shaped as the SDK shapes DynamoDB's.
    const client = createDocumentClient({ endpoint: store.endpoint, region: undefined });
    const full = () =>
      Object.assign(new Error('Item collection size limit exceeded.'), {
        name: 'ItemCollectionSizeLimitExceededException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
    client.middlewareStack.add(
      (next, { commandName }) =>
        async (args) => {
          const input = args.input as {
            Item?: { userId?: number };
            RequestItems?: Record<string, { PutRequest?: { Item?: { userId?: number } } }[]>;
          };
          const users = [
            input.Item?.userId,
            ...Object.values(input.RequestItems ?? {})
              .flat()
              .map((r) => r.PutRequest?.Item?.userId),
          ];
          if (/^(Put|BatchWrite)/.test(commandName ?? '') && users.includes(rick.id)) throw full();
          return next(args);
        },
      { step: 'initialize', name: 'fullInbox' },
    );
    const handler = createHandler(
      {
        inbox: new InboxStore(client, tableName, logger),
        deadLetters,
        users: new UserDirectory(DEFAULT_USERS),
        logger,
        metrics: silentMetrics(),
      },
      { partialBatchResponse: false },
    );
    const at = new Date();
    const notifications: Notification[] = [
      createNotification(emma, bruno, 'before', at),
      createNotification(emma, rick, 'to a full inbox', at),
      createNotification(emma, bruno, 'after', at),
      createNotification(rick, emma, 'from him is fine', at),
    ];
    const event: MSKEvent = {
      eventSource: 'aws:kafka',
      eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/notifications/abc-1',
      bootstrapServers: brokers().join(','),
      records: {
        [`${topic}-0`]: notifications.map((n, i) => ({
          topic,
          partition: 0,
          offset: 10 + i,
          timestamp: at.getTime(),
          timestampType: 'CREATE_TIME',
          key: Buffer.from(String(n.to.id)).toString('base64'),
          value: Buffer.from(JSON.stringify(n)).toString('base64'),
          headers: [],
        })),
      },
    };
    try {
      // The invocation succeeds: the partition moves on.
      expect(await handler(event, context)).toBeUndefined();
    } finally {
      await deadLetters.disconnect();
    }
    const [letter, ...more] = await readRecords(kafka, dlq, 1);
    expect(more).toEqual([]);
    const headers = Object.fromEntries(
      Object.entries(letter?.message.headers ?? {}).map(([k, v]) => [k, String(v)]),
    );
    expect(headers[DEAD_LETTER_HEADERS.offset]).toBe('11');
    expect(headers[DEAD_LETTER_HEADERS.reason]).toBe(
      'the inbox refused it: ItemCollectionSizeLimitExceededException: Item collection size limit exceeded.',
    );
    expect(JSON.parse(String(letter?.message.value)).id).toBe(notifications[1]?.id);
    const brunos = await storedIds(bruno.id);
    expect(brunos).toContain(notifications[0]?.id);
    expect(brunos).toContain(notifications[2]?.id);
    expect(await storedIds(emma.id)).toContain(notifications[3]?.id);
  });
});
