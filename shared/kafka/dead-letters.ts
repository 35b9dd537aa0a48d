import type { Logger } from '@aws-lambda-powertools/logger';
import type { IHeaders, Message } from 'kafkajs';
import { RetriableError } from '../errors.js';
import type { KafkaSource } from './client.js';
import type { DecodedRecord, RecordPosition } from './codec.js';
import { PartitionedSender } from './partitioned-send.js';
import { SerialProducer } from './producer.js';

/** Headers added to a dead-lettered record, beside its own. */
export const DEAD_LETTER_HEADERS = {
  topic: 'dlq-origin-topic',
  partition: 'dlq-origin-partition',
  offset: 'dlq-origin-offset',
  reason: 'dlq-reason',
  failedAt: 'dlq-failed-at',
} as const;

/** A record that can never be processed, and why. */
export interface PoisonRecord {
  readonly position: RecordPosition;
  /** The record's bytes, or `undefined` when the event held something that is not a record. */
  readonly record: DecodedRecord | undefined;
  /** What the event held, kept when there is no record to copy. */
  readonly raw?: unknown;
  readonly reason: string;
}

export interface DeadLetterSink {
  publish(records: readonly PoisonRecord[]): Promise<void>;
}

/**
 * The dead-letter record: the original key, value and headers, plus headers naming where it
 * came from and why it was rejected, so that it can be inspected and replayed.
 */
export const toDeadLetter = (poison: PoisonRecord, failedAt: Date): Message => {
  // No prototype: header names such as `constructor` or `__proto__` are plain keys here.
  const headers: IHeaders = Object.create(null);
  for (const { name, value } of poison.record?.headers ?? []) {
    const existing = headers[name];
    headers[name] =
      existing === undefined
        ? value
        : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  headers[DEAD_LETTER_HEADERS.topic] = poison.position.topic;
  headers[DEAD_LETTER_HEADERS.partition] = String(poison.position.partition);
  headers[DEAD_LETTER_HEADERS.offset] = String(poison.position.offset);
  headers[DEAD_LETTER_HEADERS.reason] = poison.reason;
  headers[DEAD_LETTER_HEADERS.failedAt] = failedAt.toISOString();
  return {
    key: poison.record?.key ?? null,
    value: poison.record ? poison.record.value : JSON.stringify(poison.raw ?? null),
    headers,
  };
};

export interface DeadLetterOptions {
  readonly topic: string;
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/** Publishes poison records to the dead-letter topic (acks from all replicas, idempotent). */
export class KafkaDeadLetterPublisher implements DeadLetterSink {
  readonly #producer: SerialProducer;
  readonly #options: DeadLetterOptions;
  /** One produce call per partition (kafkajs#1798): made with the first producer. */
  #sender: PartitionedSender | undefined;

  constructor(kafka: KafkaSource, options: DeadLetterOptions) {
    this.#options = options;
    // kafkajs is loaded with the first poison record, not at the consumer's start.
    // One send at a time, a fresh producer after a failure: see SerialProducer.
    this.#producer = new SerialProducer(kafka, async () => {
      // Keyed as the original record, placed as the Java client would.
      const { DefaultPartitioner } = (await import('kafkajs')).default.Partitioners;
      this.#sender ??= new PartitionedSender(options.topic, DefaultPartitioner);
      return {
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: this.#sender.partitioner,
      };
    });
  }

  /** @throws RetriableError when Kafka does not take them: the batch must be delivered again. */
  async publish(records: readonly PoisonRecord[]): Promise<void> {
    if (records.length === 0) return;
    const now = new Date();
    const messages = records.map((r) => toDeadLetter(r, now));
    try {
      await this.#producer.send(async (producer) => {
        const topic = this.#options.topic;
        if (!this.#sender) throw new Error('no producer was made');
        await this.#sender.send(messages, (group) =>
          producer.send({ topic, acks: -1, messages: group }),
        );
      }, this.#options.timeoutMs);
    } catch (error) {
      this.#options.logger.warn('dead-letter publish failed', {
        topic: this.#options.topic,
        error,
      });
      throw new RetriableError(`Could not write to the dead-letter topic ${this.#options.topic}`, {
        cause: error,
      });
    }
  }

  disconnect(): Promise<void> {
    return this.#producer.disconnect();
  }
}
