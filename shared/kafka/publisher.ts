import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { CompressionTypes, type Message, Partitioners, type Producer } from 'kafkajs';
import { DeadlineExceededError, KafkaSendError, RetriableError } from '../errors.js';
import type { Notification } from '../models/index.js';
import type { KafkaSource } from './client.js';
import { PartitionedSender, type Placement } from './partitioned-send.js';
import { SerialProducer } from './producer.js';
import { toRecord } from './records.js';

export type { Placement } from './partitioned-send.js';

/**
 * Retries of the publisher's producer, on top of the client's (`KAFKA_CLIENT_DEFAULTS.RETRY`).
 * A transaction begun right after the previous one committed is often refused with
 * CONCURRENT_TRANSACTIONS until the coordinator has written the commit markers, a few
 * milliseconds later. kafkajs retries it after its first retry delay (100 ms with our client's
 * settings), where the Java client waits 20 ms (KAFKA-5477): back-to-back batches spent most of
 * their time waiting. The first retry comes after 20 ms as in Java, then doubling up to 500 ms:
 * eight retries (about 2.1 s) ride through a partition's leader moving to another broker
 * (NOT_LEADER_OR_FOLLOWER, then fresh metadata) and leave the send deadline room for the request
 * itself. Every field is set: kafkajs merges these over the client's retry settings.
 */
export const PUBLISHER_RETRY = { initialRetryTime: 20, maxRetryTime: 500, retries: 8 } as const;

/**
 * Retries of the publisher's client (connecting, metadata): two, quickly, so that connecting tries
 * up to three seed brokers. kafkajs takes one seed per attempt (client.ts's seedBrokers): with
 * none, a new producer whose first seed is a node down (restarting, as in MSK's patching) failed
 * although the others answered. A broker that refuses connections still fails them at once, and
 * the producer's retries (`PUBLISHER_RETRY`) or its reconnection in the background take it from
 * there, not further client retries nested in each of them.
 */
export const PUBLISHER_CLIENT_RETRY = {
  retries: 2,
  initialRetryTime: 20,
  maxRetryTime: 100,
} as const;

/**
 * How old the producer's metadata may be when a send begins (kafkajs: 5 min by default) before
 * the send refreshes it. kafkajs finds a transaction's coordinator (AddPartitionsToTxn, EndTxn)
 * by asking a random broker of that metadata (src/cluster/index.js findGroupCoordinator, via
 * src/cluster/brokerPool.js withBroker, which connects to it outside its try): a node that has
 * left since (its controlled shutdown done, no longer in the cluster's metadata) refuses the
 * connection, nothing refreshes the metadata for it, and the client's retries
 * (`PUBLISHER_CLIENT_RETRY`) pick at random again. A rolling restart leaves exactly that behind:
 * the last refresh came with the leaders moving (NOT_LEADER_OR_FOLLOWER), the node still
 * registered. With 5 min, a lookup failed one time in 27 and its batch with it for minutes after
 * each node's stop; with 1 s, only within the second after it. Refreshing before every send (0)
 * would close that second too, at a Metadata request per send: p50 ratio 2.60 against 1.59 in
 * bench/producer-latency.ts, where 1 s gave 1.68 (the same run, loopback). The writes themselves
 * refresh on a refused connection.
 */
export const PUBLISHER_METADATA_MAX_AGE_MS = 1_000;

/**
 * Shortest transaction timeout given to the broker (it checks for expired transactions every
 * 10 s by default, `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
 */
export const TRANSACTION_TIMEOUT_FLOOR_MS = 10_000;

/** `#refusedUntil`'s key for every partition at once. */
const EVERY_PARTITION = -1;

/** Publishes notifications; domain code depends on this, tests pass a fake. */
export interface NotificationPublisher {
  /**
   * Publishes all of `notifications` or none of them; resolves with each one's placement.
   * `timeoutMs` shortens the publisher's own timeout (the caller's remaining time, say).
   */
  publish(
    notifications: readonly Notification[],
    options?: { readonly timeoutMs?: number },
  ): Promise<Placement[]>;
}

export interface KafkaPublisherOptions {
  readonly topic: string;
  /** Longest a publish may take, connecting and waiting for the producer included. */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** Pause between attempts to reconnect after a failure (`SERIAL_PRODUCER_DEFAULTS`). */
  readonly reconnectPauseMs?: number;
}

/** Seconds a client is told to wait before trying again after a 503. */
export const PUBLISH_RETRY_AFTER_SECONDS = 1;

/**
 * How long a partition whose write just failed is refused at once, nothing sent: a failure that
 * waited out its deadline (the partition's leader died and is not yet fenced, its in-sync
 * replicas are too few) is likely to recur for the next write to that partition, and each such
 * write would hold a function for the whole deadline. Only that partition's: the others' leaders
 * are elsewhere, and their writes go on. When no producer could connect, every partition is
 * refused until a new one has (and for at least as long).
 */
export const REFUSE_PARTITION_AFTER_FAILURE_MS = 1_000;

/**
 * The share of its deadline a failed write must have held its function for its partitions to be
 * refused (`REFUSE_PARTITION_AFTER_FAILURE_MS`). A failure that came back sooner held nobody up,
 * and says nothing of the partitions' leaders: kafkajs commits a transaction without retrying a
 * coordinator that has just moved (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS: the Java client
 * finds it again and retries), which in a rolling restart failed a batch at once and, with its
 * three partitions refused for a second, the single sends after it too.
 */
export const REFUSE_AFTER_HOLDING_SHARE = 0.5;

/**
 * Publishes notifications to Kafka with acks from all in-sync replicas and an idempotent
 * producer, created once and reused by warm invocations.
 *
 * Records with one key share a partition, and one produce request appends them atomically. A
 * batch with several keys spans partitions, where only a transaction makes the write all or
 * nothing; it is published in one, so read-committed consumers never see part of it.
 *
 * One publish at a time uses the producer, and one that fails or times out gets it replaced
 * (`SerialProducer` says why: overlapping sends on a kafkajs idempotent producer can lose or
 * duplicate acknowledged records). A failure answers 503; for a second after one that held its
 * function for half the deadline or more, publishes to the partitions it wrote to are refused at
 * once rather than each waiting out the timeout on a leader that is down
 * (`REFUSE_PARTITION_AFTER_FAILURE_MS`), while the other partitions' go on with a new producer.
 */
export class KafkaPublisher implements NotificationPublisher {
  readonly #options: KafkaPublisherOptions;
  readonly #producer: SerialProducer;
  /** One produce call per partition (kafkajs#1798), and where each record went. */
  readonly #sender: PartitionedSender;
  /** Until when (`performance.now()`) each partition is refused; `-1`: every partition. */
  readonly #refusedUntil = new Map<number, number>();
  /** Set when no producer could connect: everything is refused until one has. */
  #unconnected = false;

  constructor(kafka: KafkaSource, options: KafkaPublisherOptions) {
    this.#options = options;
    this.#sender = new PartitionedSender(options.topic, Partitioners.DefaultPartitioner);
    this.#producer = new SerialProducer(
      kafka,
      () => ({
        idempotent: true,
        maxInFlightRequests: 1,
        // One transactional id per producer: concurrent containers must never fence each other.
        transactionalId: `${options.topic}-publisher-${randomUUID()}`,
        createPartitioner: this.#sender.partitioner,
        retry: { ...PUBLISHER_RETRY },
        metadataMaxAge: PUBLISHER_METADATA_MAX_AGE_MS,
        // A transaction left open (the request timed out, the container froze) is aborted by the
        // coordinator after this long; until then read-committed consumers wait behind it.
        transactionTimeout: Math.max(TRANSACTION_TIMEOUT_FLOOR_MS, 2 * options.timeoutMs),
      }),
      {
        reconnectTimeoutMs: options.timeoutMs,
        // Refusing after a failure is the publisher's, per partition (`#refused`).
        refuseAfterFailureMs: 0,
        waitWhileReconnecting: true,
        ...(options.reconnectPauseMs === undefined
          ? {}
          : { reconnectPauseMs: options.reconnectPauseMs }),
      },
    );
  }

  async publish(
    notifications: readonly Notification[],
    { timeoutMs }: { readonly timeoutMs?: number } = {},
  ): Promise<Placement[]> {
    const messages = notifications.map(toRecord);
    const budgetMs = Math.min(timeoutMs ?? this.#options.timeoutMs, this.#options.timeoutMs);
    const partitions = this.#sender.partitionsOf(messages);
    if (this.#refused(partitions)) throw this.#unavailable(new KafkaSendError('reconnecting'));
    const started = performance.now();
    try {
      return await this.#producer.send(
        (producer, abandoned) => this.#send(producer, messages, abandoned),
        budgetMs,
      );
    } catch (error) {
      const held = performance.now() - started >= REFUSE_AFTER_HOLDING_SHARE * budgetMs;
      this.#refuseAfter(error, partitions, held);
      throw this.#unavailable(error);
    }
  }

  /** Closes the connection (tests and benchmarks; Lambda simply freezes the container). */
  disconnect(): Promise<void> {
    return this.#producer.disconnect();
  }

  /**
   * Sends the messages, one produce call per partition; a transaction `abandoned` meanwhile (the
   * client was already answered 503) is aborted instead of committed.
   */
  async #send(
    producer: Producer,
    messages: Message[],
    abandoned: () => boolean,
  ): Promise<Placement[]> {
    const topic = this.#options.topic;
    const keys = new Set(messages.map((m) => String(m.key)));
    if (keys.size <= 1) {
      return this.#sender.send(messages, (group) =>
        producer.sendBatch({
          topicMessages: [{ topic, messages: group }],
          acks: -1,
          compression: CompressionTypes.None,
        }),
      );
    }
    const transaction = await producer.transaction();
    try {
      const placements = await this.#sender.send(messages, (group) =>
        transaction.sendBatch({ topicMessages: [{ topic, messages: group }], acks: -1 }),
      );
      // The client was already answered 503: back out rather than commit.
      if (abandoned()) throw new DeadlineExceededError(this.#options.timeoutMs);
      await transaction.commit();
      return placements;
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
  }

  /** Whether a write to `partitions` (unknown: any) is refused for now. */
  #refused(partitions: readonly number[] | undefined): boolean {
    const now = performance.now();
    const refused = (p: number) => (this.#refusedUntil.get(p) ?? 0) > now;
    if (this.#unconnected && this.#producer.reconnecting) return true;
    this.#unconnected = false;
    return refused(EVERY_PARTITION) || (partitions ?? []).some(refused);
  }

  /**
   * After a failed write: its partitions refused for a while if it `held` its function long
   * (`REFUSE_AFTER_HOLDING_SHARE`), or every one if none connected.
   */
  #refuseAfter(error: unknown, partitions: readonly number[] | undefined, held: boolean): void {
    // Waiting for another publish to end says nothing about the cluster.
    if (error instanceof KafkaSendError && error.reason === 'waited-too-long') return;
    const until = performance.now() + REFUSE_PARTITION_AFTER_FAILURE_MS;
    const connected = !(error instanceof KafkaSendError && error.reason === 'not-connected');
    if (!connected) this.#unconnected = true;
    else if (!held) return;
    for (const p of connected && partitions ? partitions : [EVERY_PARTITION]) {
      this.#refusedUntil.set(p, until);
    }
  }

  /** Any failure to publish is a broker fault: a 503 that says whether it may have been written. */
  #unavailable(error: unknown): RetriableError {
    const inDoubt = !(error instanceof KafkaSendError) || error.inDoubt;
    if (!(error instanceof KafkaSendError && error.reason === 'reconnecting')) {
      this.#options.logger.warn('Kafka publish failed', { error });
    }
    return new RetriableError(
      inDoubt
        ? 'Kafka did not confirm the write in time: the notification may or may not have been written. Retry with the same Idempotency-Key.'
        : 'Kafka cannot be reached right now: nothing was written. Retry with the same Idempotency-Key.',
      { retryAfterSeconds: PUBLISH_RETRY_AFTER_SECONDS, cause: error },
    );
  }
}
