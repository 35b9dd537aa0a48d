import * as z from 'zod/mini';
import { InvalidEventError } from '../errors.js';
import { describeIssues, type Notification, NotificationSchema } from '../models/index.js';

/**
 * Decoding of the records Lambda's Kafka event source delivers (`aws:kafka` and
 * `SelfManagedKafka`): base64 key and value, headers as arrays of signed bytes. Each record is
 * decoded on its own, so that one bad record is reported with its position and never hides the
 * others.
 */

const signedByte = z.int().check(z.gte(-128), z.lte(127));

/**
 * One header object, `{ name: signedBytes }`, read as its own entries: any name is a header name
 * (`__proto__`, `constructor`), whereas a zod record would assign `__proto__` to the prototype and
 * lose the header.
 */
const HeaderSchema = z.pipe(
  z.pipe(
    z.custom<object>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
      error: 'a header must be an object',
    }),
    z.transform((header: object) => Object.entries(header)),
  ),
  z.array(z.tuple([z.string(), z.array(signedByte)])),
);

export const LambdaKafkaRecordSchema = z.object({
  topic: z.string().check(z.minLength(1)),
  partition: z.int().check(z.nonnegative()),
  offset: z.int().check(z.nonnegative()),
  timestamp: z.number(),
  timestampType: z.optional(z.enum(['CREATE_TIME', 'LOG_APPEND_TIME'])),
  key: z.optional(z.nullable(z.string())),
  value: z.nullable(z.string()),
  headers: z._default(z.array(HeaderSchema), []),
});
export type LambdaKafkaRecord = z.output<typeof LambdaKafkaRecordSchema>;

/** The event envelope; records are checked one by one. */
export const LambdaKafkaEventSchema = z.object({
  eventSource: z.enum(['aws:kafka', 'SelfManagedKafka']),
  eventSourceArn: z.optional(z.string()),
  bootstrapServers: z.optional(z.string()),
  records: z.record(z.string(), z.array(z.unknown())),
});

/** Where a record sits in Kafka. */
export interface RecordPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface KafkaHeader {
  readonly name: string;
  readonly value: Buffer;
}

/** A record with its bytes restored. */
export interface DecodedRecord extends RecordPosition {
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly KafkaHeader[];
}

export type DecodeResult =
  | { readonly ok: true; readonly record: DecodedRecord; readonly notification: Notification }
  | {
      readonly ok: false;
      readonly position: RecordPosition;
      readonly record: DecodedRecord | undefined;
      /** What the event held, when it is not a record whose bytes could be restored. */
      readonly raw?: unknown;
      readonly reason: string;
    };

/** Just the position of a record. */
export const positionOf = ({ topic, partition, offset }: RecordPosition): RecordPosition => ({
  topic,
  partition,
  offset,
});

/** Signed Java bytes back to a buffer: -61 is 0xC3. */
export const bytesFromSigned = (bytes: readonly number[]): Buffer =>
  Buffer.from(bytes.map((b) => b & 0xff));

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Restores a record's key, value and headers from Lambda's encoding. */
export const decodeRecord = (record: LambdaKafkaRecord): DecodedRecord => ({
  topic: record.topic,
  partition: record.partition,
  offset: record.offset,
  timestamp: record.timestamp,
  key: record.key == null ? null : Buffer.from(record.key, 'base64'),
  value: record.value === null ? null : Buffer.from(record.value, 'base64'),
  headers: record.headers.flatMap((entries) =>
    entries.map(([name, bytes]) => ({ name, value: bytesFromSigned(bytes) })),
  ),
});

/** A record's issues name `value` for the record itself. */
const RECORD = { root: 'value' } as const;

/**
 * Decodes and validates one record as a notification. Failures say why: a tombstone, bytes that
 * are not UTF-8 JSON, or JSON that is not a notification.
 */
export const decodeNotification = (raw: unknown, fallback: RecordPosition): DecodeResult => {
  const parsed = LambdaKafkaRecordSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      position: fallback,
      record: undefined,
      raw,
      reason: `malformed Kafka record in the event: ${describeIssues(parsed.error.issues, RECORD)}`,
    };
  }
  const record = decodeRecord(parsed.data);
  const fail = (reason: string): DecodeResult => ({
    ok: false,
    position: positionOf(record),
    record,
    reason,
  });
  if (record.value === null) return fail('tombstone: the record has no value');
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(record.value));
  } catch {
    return fail('the value is not UTF-8 JSON');
  }
  const notification = NotificationSchema.safeParse(json);
  if (!notification.success) {
    return fail(
      `the value is not a notification: ${describeIssues(notification.error.issues, RECORD)}`,
    );
  }
  return { ok: true, record, notification: notification.data };
};

/**
 * Every record of an event, in the event's order (partition groups in turn, each in offset
 * order), decoded. Positions for malformed records come from the group key `<topic>-<partition>`.
 * @throws InvalidEventError when `event` is not a Kafka event at all
 */
export const decodeEvent = (event: unknown): DecodeResult[] => {
  const parsed = LambdaKafkaEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidEventError(
      `not a Kafka event: ${describeIssues(parsed.error.issues, RECORD)}`,
    );
  }
  return Object.entries(parsed.data.records).flatMap(([group, records]) => {
    const dash = group.lastIndexOf('-');
    const topic = dash > 0 ? group.slice(0, dash) : group;
    const partition = Number(group.slice(dash + 1));
    return records.map((raw, index) => {
      const offset = (raw as { offset?: unknown } | null)?.offset;
      return decodeNotification(raw, {
        topic,
        partition: Number.isInteger(partition) ? partition : -1,
        offset: typeof offset === 'number' ? offset : -1 - index,
      });
    });
  });
};
