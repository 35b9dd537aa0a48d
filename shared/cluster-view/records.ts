import { randomUUID } from 'node:crypto';
import type { Admin, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { RetriableError, ValidationError } from '../errors.js';
import { type Notification, NotificationSchema } from '../models/index.js';

/**
 * The latest records of one partition, for the local cluster page (functions/cluster-view), the
 * way a person browses messages in Kafka UI. kafkajs has no fetch outside a consumer group, so a
 * read is a short-lived consumer of its own: a group named `BROWSE_GROUP_PREFIX` + a random id,
 * alone in it, that seeks to the records wanted, never commits (autoCommit off, no commit call),
 * leaves, and deletes its group. The page does not list these groups.
 *
 * Bounded, so that an open page cannot load the broker: at most `RECORD_LIMITS.MAX_RECORDS`
 * records shown and `MAX_SCANNED` read per request, `MAX_VALUE_BYTES` fetched per partition per
 * request, a deadline of `TIMEOUT_MS`, and at most `MAX_CONCURRENT` reads at once per function
 * instance (the others are refused: a 503 to ask again in a second). The page reads records only
 * when asked, never on its own every-second refresh.
 */

export const BROWSE_GROUP_PREFIX = 'cluster-view.browse.';

export const RECORD_LIMITS = {
  /** Records shown by default, and at most. */
  DEFAULT_RECORDS: 10,
  MAX_RECORDS: 50,
  /** Records read at most to find a key's latest ones (the partition's last ones). */
  MAX_SCANNED: 500,
  /** Bytes one fetch may return for the partition (kafkajs's maxBytesPerPartition). */
  MAX_FETCH_BYTES: 1024 * 1024,
  /** Longest a read may take, from joining its group to the last record. */
  TIMEOUT_MS: 4_000,
  /** Reads at once, per function instance. */
  MAX_CONCURRENT: 2,
  /** Characters of a raw value, key or header shown (the rest is cut, and said so). */
  MAX_TEXT_CHARS: 1_024,
} as const;

/** Bytes shown as text when they are UTF-8, base64 otherwise; cut at `MAX_TEXT_CHARS`. */
export interface BytesView {
  readonly encoding: 'utf8' | 'base64';
  readonly text: string;
  /** The length in bytes. */
  readonly bytes: number;
  readonly truncated: boolean;
}

export type ValueView =
  | { readonly kind: 'notification'; readonly notification: Notification }
  | { readonly kind: 'raw'; readonly raw: BytesView }
  | { readonly kind: 'tombstone' };

export interface RecordView {
  readonly offset: number;
  /** ms since the epoch, as the record carries it. */
  readonly timestamp: number;
  readonly key: BytesView | null;
  readonly headers: readonly { readonly name: string; readonly value: BytesView | null }[];
  readonly value: ValueView;
}

export interface PartitionRecords {
  readonly topic: string;
  readonly partition: number;
  /** The partition's start and end offsets when the read began. */
  readonly start: number;
  readonly end: number;
  /** The key asked for, if any: `records` are then that key's only. */
  readonly key: string | null;
  /** The offsets read: `[from, end)`. */
  readonly from: number;
  /** Newest first. */
  readonly records: readonly RecordView[];
  /** False when the deadline came before every offset up to `end` was read. */
  readonly complete: boolean;
}

export interface RecordsRequest {
  readonly topic: string;
  readonly partition: number;
  /** Records wanted, 1 to `MAX_RECORDS`. */
  readonly limit: number;
  /** Only this key's records (among the partition's last `MAX_SCANNED`). */
  readonly key?: string;
}

export interface RecordsDependencies {
  readonly kafka: () => Promise<Kafka>;
  readonly admin: () => Promise<Admin>;
  readonly timeoutMs?: number;
  /** Bytes one fetch may return (`MAX_FETCH_BYTES`; tests make it small to read in several). */
  readonly fetchBytes?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export const bytesView = (bytes: Buffer): BytesView => {
  let text: string | undefined;
  try {
    text = utf8.decode(bytes);
  } catch {
    text = undefined;
  }
  const shown = text ?? bytes.toString('base64');
  const truncated = shown.length > RECORD_LIMITS.MAX_TEXT_CHARS;
  return {
    encoding: text === undefined ? 'base64' : 'utf8',
    text: truncated ? shown.slice(0, RECORD_LIMITS.MAX_TEXT_CHARS) : shown,
    bytes: bytes.length,
    truncated,
  };
};

const asBuffer = (value: Buffer | string): Buffer =>
  typeof value === 'string' ? Buffer.from(value) : value;

const headersOf = (headers: IHeaders | undefined): RecordView['headers'] =>
  Object.entries(headers ?? {}).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((v) => ({
      name,
      value: v === undefined || v === null ? null : bytesView(asBuffer(v)),
    })),
  );

/** A record's value: the notification it holds, or its bytes as they are. */
export const valueView = (value: Buffer | null): ValueView => {
  if (value === null) return { kind: 'tombstone' };
  try {
    const parsed = NotificationSchema.safeParse(JSON.parse(utf8.decode(value)));
    if (parsed.success) return { kind: 'notification', notification: parsed.data };
  } catch {
    // Not UTF-8 JSON: shown raw.
  }
  return { kind: 'raw', raw: bytesView(value) };
};

export const recordView = (message: KafkaMessage): RecordView => ({
  offset: Number(message.offset),
  timestamp: Number(message.timestamp),
  key: message.key === null || message.key === undefined ? null : bytesView(message.key),
  headers: headersOf(message.headers),
  value: valueView(message.value),
});

let reading = 0;

/**
 * The latest `limit` records of `topic`'s `partition` (of `key` only, when given), newest first.
 * @throws RetriableError when `MAX_CONCURRENT` reads are under way, or the broker does not answer
 * @throws ValidationError when the broker has no such topic or partition
 */
export const readLatestRecords = async (
  {
    kafka,
    admin,
    timeoutMs = RECORD_LIMITS.TIMEOUT_MS,
    fetchBytes = RECORD_LIMITS.MAX_FETCH_BYTES,
  }: RecordsDependencies,
  { topic, partition, limit, key }: RecordsRequest,
): Promise<PartitionRecords> => {
  if (reading >= RECORD_LIMITS.MAX_CONCURRENT) {
    throw new RetriableError('Too many record reads at once; ask again in a second.', {
      retryAfterSeconds: 1,
    });
  }
  reading++;
  try {
    const deadline = Date.now() + timeoutMs;
    const offsets = await beforeDeadline((await admin()).fetchTopicOffsets(topic), deadline).catch(
      () => {
        // A topic that is not there, or a broker that does not answer: told apart below.
        return undefined;
      },
    );
    if (!offsets) await expectTopic(await admin(), topic, deadline);
    const bounds = offsets?.find((o) => o.partition === partition);
    if (!bounds) {
      throw new ValidationError([
        {
          field: 'partition',
          message: `expected a partition of ${topic}; ${partition} is not one`,
        },
      ]);
    }
    const start = Number(bounds.low);
    const end = Number(bounds.high);
    const wanted = key === undefined ? limit : RECORD_LIMITS.MAX_SCANNED;
    const from = Math.max(start, end - wanted);
    const base = { topic, partition, start, end, key: key ?? null, from };
    if (from >= end) return { ...base, records: [], complete: true };
    const { messages, complete } = await consume(
      { kafka: await kafka(), admin: await admin() },
      { topic, partition, from, end, deadline, fetchBytes },
    );
    const keyBytes = key === undefined ? undefined : Buffer.from(key);
    const records = messages
      .filter((m) => keyBytes === undefined || (m.key != null && keyBytes.equals(m.key)))
      .sort((a, b) => Number(b.offset) - Number(a.offset))
      .slice(0, limit)
      .map(recordView);
    return { ...base, records, complete };
  } finally {
    reading--;
  }
};

/** Refuses a topic the broker does not have; a broker that does not answer is a passing fault. */
const expectTopic = async (admin: Admin, topic: string, deadline: number): Promise<void> => {
  const topics = await beforeDeadline(admin.listTopics(), deadline).catch(() => undefined);
  if (topics === undefined) {
    throw new RetriableError('The broker did not answer in time; ask again shortly.', {
      retryAfterSeconds: 1,
    });
  }
  if (!topics.includes(topic)) {
    throw new ValidationError([
      { field: 'topic', message: `expected a topic on the broker; ${topic} is not there` },
    ]);
  }
};

/** `promise`, rejected when `deadline` passes first. */
const beforeDeadline = <T>(promise: Promise<T>, deadline: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error('deadline')), Math.max(0, deadline - Date.now()));
    }),
  ]).finally(() => clearTimeout(timer));
};

/** Reads `[from, end)` of one partition with a consumer of its own, until done or `deadline`. */
const consume = async (
  { kafka, admin }: { kafka: Kafka; admin: Admin },
  {
    topic,
    partition,
    from,
    end,
    deadline,
    fetchBytes,
  }: {
    topic: string;
    partition: number;
    from: number;
    end: number;
    deadline: number;
    fetchBytes: number;
  },
): Promise<{ messages: KafkaMessage[]; complete: boolean }> => {
  const groupId = `${BROWSE_GROUP_PREFIX}${randomUUID()}`;
  const consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: fetchBytes,
    maxBytes: fetchBytes,
    retry: { retries: 1, maxRetryTime: 500 },
  });
  /** By offset: a fetch that a retry repeats adds nothing twice. */
  const messages = new Map<number, KafkaMessage>();
  let next = from;
  let finished: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  // Progress is taken from each batch's last offset, control records included: a partition whose
  // last records are transaction markers (which eachBatch never sees) is read to its end too.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.topic !== topic || payload.partition !== partition) return;
    next = Math.max(next, Number(payload.lastOffset) + 1);
    if (next >= end) finished();
  });
  consumer.on(consumer.events.CRASH, () => finished());
  try {
    await beforeDeadline(consumer.connect(), deadline);
    await beforeDeadline(consumer.subscribe({ topics: [topic], fromBeginning: false }), deadline);
    await beforeDeadline(
      consumer.run({
        // Never a commit: kafkajs commits only when autoCommit is on or commitOffsets is called.
        // Each batch is still resolved (the default), which moves the next fetch past it.
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          if (batch.topic !== topic || batch.partition !== partition) return;
          for (const m of batch.messages) {
            const offset = Number(m.offset);
            if (offset >= from && offset < end) messages.set(offset, m);
          }
        },
      }),
      deadline,
    );
    consumer.seek({ topic, partition, offset: String(from) });
    await beforeDeadline(done, deadline).catch(() => undefined);
    return { messages: [...messages.values()], complete: next >= end };
  } catch {
    throw new RetriableError('The broker did not answer in time; ask again shortly.', {
      retryAfterSeconds: 1,
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    // Nothing was committed, so the group is empty and holds no offsets: gone now rather than at
    // the broker's next clean-up. Best effort: one left behind is empty and hidden from the page.
    await beforeDeadline(admin.deleteGroups([groupId]), Date.now() + 1_000).catch(() => undefined);
  }
};
