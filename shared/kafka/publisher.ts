import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import kafkajs, {
  CompressionTypes,
  type ICustomPartitioner,
  type Message,
  Partitioners,
  type RecordMetadata,
} from 'kafkajs';
import { withDeadline } from '../deadline.js';
import {
  DeadlineExceededError,
  IncompleteAcknowledgementError,
  ServiceUnavailableError,
} from '../errors.js';
import type { Notification } from '../models/index.js';
import type { KafkaSource } from './client.js';
import { LazyProducer } from './producer.js';
import { toRecord } from './records.js';

// kafkajs is CommonJS: Node's ESM loader only sees some of its named exports.
const { KafkaJSError } = kafkajs;

/**
 * Retries of the publisher's producer, on top of the client's (`KAFKA_CLIENT_DEFAULTS.RETRY`).
 * A transaction begun right after the previous one committed is often refused with
 * CONCURRENT_TRANSACTIONS until the coordinator has written the commit markers, a few
 * milliseconds later. kafkajs retries it after its first retry delay (100 ms with our client's
 * settings), where the Java client waits 20 ms (KAFKA-5477): back-to-back batches spent most of
 * their time waiting. The first retry comes after 20 ms as in Java; more retries keep the total
 * patience (about 3.3 s, doubling up to the client's 1 s cap) within the send deadline.
 */
export const PUBLISHER_RETRY = { initialRetryTime: 20, retries: 8 } as const;

/**
 * Shortest transaction timeout given to the broker (it checks for expired transactions every
 * 10 s by default, `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
 */
export const TRANSACTION_TIMEOUT_FLOOR_MS = 10_000;

/** Where a notification was written. Offsets are strings: Kafka offsets are 64-bit. */
export interface Placement {
  readonly partition: number;
  readonly offset: string;
}

/** Publishes notifications; domain code depends on this, tests pass a fake. */
export interface NotificationPublisher {
  /** Publishes all of `notifications` or none of them; resolves with each one's placement. */
  publish(notifications: readonly Notification[]): Promise<Placement[]>;
}

export interface KafkaPublisherOptions {
  readonly topic: string;
  /** Longest a publish may take, connecting included. */
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/**
 * Publishes notifications to Kafka with acks from all in-sync replicas and an idempotent
 * producer, created once and reused by warm invocations.
 *
 * Records with one key share a partition, and one produce request appends them atomically. A
 * batch with several keys spans partitions, where only a transaction makes the write all or
 * nothing; it is published in one, so read-committed consumers never see part of it.
 */
export class KafkaPublisher implements NotificationPublisher {
  readonly #options: KafkaPublisherOptions;
  readonly #partitions = new WeakMap<Message, number>();
  readonly #producer: LazyProducer;
  /** kafkajs allows one transaction at a time per producer. */
  #transactions: Promise<unknown> = Promise.resolve();

  constructor(kafka: KafkaSource, options: KafkaPublisherOptions) {
    this.#options = options;
    this.#producer = new LazyProducer(kafka, () => ({
      idempotent: true,
      maxInFlightRequests: 1,
      // One transactional id per producer: concurrent containers must never fence each other.
      transactionalId: `${options.topic}-publisher-${randomUUID()}`,
      createPartitioner: this.#recordingPartitioner,
      retry: { ...PUBLISHER_RETRY },
      // A transaction left open (the request timed out, the container froze) is aborted by the
      // coordinator after this long; until then read-committed consumers wait behind it.
      transactionTimeout: Math.max(TRANSACTION_TIMEOUT_FLOOR_MS, 2 * options.timeoutMs),
    }));
  }

  async publish(notifications: readonly Notification[]): Promise<Placement[]> {
    const messages = notifications.map(toRecord);
    const deadline = { passed: false };
    try {
      const metadata = await withDeadline(this.#send(messages, deadline), this.#options.timeoutMs);
      return this.#placements(messages, metadata);
    } catch (error) {
      deadline.passed = true;
      throw this.#unavailable(error);
    }
  }

  /** Closes the connection (tests and benchmarks; Lambda simply freezes the container). */
  disconnect(): Promise<void> {
    return this.#producer.disconnect();
  }

  /**
   * Sends the messages; a transaction whose deadline `passed` meanwhile (the client was already
   * answered 503) is aborted instead of committed.
   */
  async #send(
    messages: Message[],
    deadline: { readonly passed: boolean },
  ): Promise<RecordMetadata[]> {
    const producer = await this.#producer.get();
    const topicMessages = [{ topic: this.#options.topic, messages }];
    const keys = new Set(messages.map((m) => String(m.key)));
    if (keys.size <= 1) {
      return producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
    }
    const run = this.#transactions.then(async () => {
      const transaction = await producer.transaction();
      try {
        const metadata = await transaction.sendBatch({ topicMessages, acks: -1 });
        if (deadline.passed) throw new DeadlineExceededError(this.#options.timeoutMs);
        await transaction.commit();
        return metadata;
      } catch (error) {
        await transaction.abort().catch(() => undefined);
        throw error;
      }
    });
    this.#transactions = run.catch(() => undefined);
    return run;
  }

  /** The Java client's murmur2 partitioner, remembering where each message went. */
  readonly #recordingPartitioner: ICustomPartitioner = () => {
    const partition = Partitioners.DefaultPartitioner();
    return (args) => {
      const chosen = partition(args);
      this.#partitions.set(args.message, chosen);
      return chosen;
    };
  };

  /** Each message's offset: its partition's base offset plus its rank within that partition. */
  #placements(messages: readonly Message[], metadata: readonly RecordMetadata[]): Placement[] {
    const next = new Map<number, bigint>();
    for (const m of metadata) {
      if (m.topicName === this.#options.topic) next.set(m.partition, BigInt(m.baseOffset ?? '-1'));
    }
    return messages.map((message) => {
      const partition = this.#partitions.get(message);
      const offset = partition === undefined ? undefined : next.get(partition);
      if (partition === undefined || offset === undefined || offset < 0n) {
        throw new IncompleteAcknowledgementError(
          'The broker acknowledged the batch without an offset for every record',
        );
      }
      next.set(partition, offset + 1n);
      return { partition, offset: offset.toString() };
    });
  }

  /** Kafka failures become a 503; the producer is dropped so the next call reconnects. */
  #unavailable(error: unknown): unknown {
    if (!(error instanceof KafkaJSError || error instanceof DeadlineExceededError)) return error;
    this.#producer.reset();
    this.#transactions = Promise.resolve();
    this.#options.logger.warn('Kafka publish failed', { error });
    return new ServiceUnavailableError(
      'Kafka did not confirm the write in time, so nothing was acknowledged. Try again shortly.',
      Math.max(1, Math.ceil(this.#options.timeoutMs / 1000)),
      { cause: error },
    );
  }
}
