import type { Producer, ProducerConfig } from 'kafkajs';
import { withDeadline } from '../deadline.js';
import { DeadlineExceededError, KafkaSendError } from '../errors.js';
import type { KafkaSource } from './client.js';

export const SERIAL_PRODUCER_DEFAULTS = {
  /** Pause between two attempts to reconnect after a failure. */
  RECONNECT_PAUSE_MS: 250,
  /** Longest one attempt to reconnect may take. */
  RECONNECT_TIMEOUT_MS: 2_500,
  /**
   * Shortest time sends are refused after a failure, however soon a new producer connects: the
   * Retry-After a refused client is given. A failure that waited out its deadline (a partition
   * whose leader died, writes waiting for an in-sync replica that is gone) is likely to recur
   * for the next send: refused at once, it holds no function for seconds, where each waiting
   * send would (at 50 requests/s, more than the 32 a function may run at once offline).
   */
  REFUSE_AFTER_FAILURE_MS: 1_000,
} as const;

export interface SerialProducerOptions {
  readonly reconnectPauseMs?: number;
  readonly reconnectTimeoutMs?: number;
  readonly refuseAfterFailureMs?: number;
  /**
   * Whether a send made while a new producer connects waits for it (within its own deadline)
   * instead of being refused at once: for a caller that refuses what is likely to fail itself
   * (the publisher: only the partitions whose write failed).
   */
  readonly waitWhileReconnecting?: boolean;
  /** A monotonic clock in ms; tests pass their own. */
  readonly now?: () => number;
}

/** A producer (made once kafkajs is loaded) and its connection under way. */
interface Connection {
  readonly producer: Promise<Producer>;
  readonly connected: Promise<Producer>;
}

/**
 * A kafkajs idempotent producer that carries one send at a time, and is replaced after any send
 * that fails or outlives its deadline.
 *
 * Why: kafkajs numbers each partition's batches for the broker's duplicate detection, and when a
 * produce request fails (connection closed, request timed out) it rolls that partition's sequence
 * back, although the broker may have written the batch (src/producer/sendMessages.js, since
 * kafkajs#1050). A send that overlaps it on the same producer then reuses the sequence: the
 * broker takes the new batch for a retry of the written one and acknowledges it with that
 * batch's offset without writing it (acknowledged, lost), and the first send's retry, now
 * numbered after it, is written a second time (kafkajs#1005). One send at a time, and a new
 * producer (new producer id, fresh sequences) after a send that was abandoned while possibly
 * still retrying inside kafkajs, leave no two batches that can share a number.
 *
 * After a failure, a new producer connects in the background, attempt after attempt, while
 * sends are refused at once (`reconnecting`, nothing sent) instead of each waiting out its
 * deadline on a broker that is down, for at least `refuseAfterFailureMs`; the first send after
 * that goes through.
 */
export class SerialProducer {
  readonly #kafka: KafkaSource;
  readonly #config: () => ProducerConfig | Promise<ProducerConfig>;
  readonly #pauseMs: number;
  readonly #attemptMs: number;
  readonly #refuseMs: number;
  readonly #waitWhileReconnecting: boolean;
  readonly #now: () => number;
  /** Cuts the refusal window short (`disconnect()`). */
  #wake: (() => void) | undefined;
  #current: Connection | undefined;
  /** Settles when the send holding the producer is done; the next one waits for it. */
  #turn: Promise<void> = Promise.resolve();
  /** Set while a new producer is being connected after a failure. */
  #reconnecting: Promise<void> | undefined;
  /** Bumped by `disconnect()`, which ends reconnection attempts. */
  #generation = 0;
  /** Replaced producers still finishing an abandoned send; disconnected once it settles. */
  readonly #retiring = new Set<Promise<void>>();

  /** `config` is called for each new producer (a transactional id must be fresh, say). */
  constructor(
    kafka: KafkaSource,
    config: () => ProducerConfig | Promise<ProducerConfig>,
    options: SerialProducerOptions = {},
  ) {
    this.#kafka = kafka;
    this.#config = config;
    this.#pauseMs = options.reconnectPauseMs ?? SERIAL_PRODUCER_DEFAULTS.RECONNECT_PAUSE_MS;
    this.#attemptMs = options.reconnectTimeoutMs ?? SERIAL_PRODUCER_DEFAULTS.RECONNECT_TIMEOUT_MS;
    this.#refuseMs =
      options.refuseAfterFailureMs ?? SERIAL_PRODUCER_DEFAULTS.REFUSE_AFTER_FAILURE_MS;
    this.#waitWhileReconnecting = options.waitWhileReconnecting ?? false;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Whether sends are being refused while a new producer connects. */
  get reconnecting(): boolean {
    return this.#reconnecting !== undefined;
  }

  /**
   * Runs `work` with the producer to itself, within `timeoutMs` from this call (waiting for the
   * producer and connecting included). `abandoned()` turns true once the deadline has passed:
   * work that can still back out (a transaction not yet committed) should.
   * @throws KafkaSendError, whose `reason` says whether anything may have been written.
   */
  async send<T>(
    work: (producer: Producer, abandoned: () => boolean) => Promise<T>,
    timeoutMs: number,
  ): Promise<T> {
    if (this.#refusing()) throw new KafkaSendError('reconnecting');
    const started = this.#now();
    const remaining = () => Math.max(0, timeoutMs - (this.#now() - started));
    const previous = this.#turn;
    let release = () => {};
    this.#turn = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await withDeadline(previous, remaining());
    } catch (error) {
      // Leave in order: the next send still waits for the one before this.
      void previous.then(release);
      throw new KafkaSendError('waited-too-long', { cause: error });
    }
    try {
      if (this.#refusing()) throw new KafkaSendError('reconnecting');
      return await this.#attempt(work, remaining);
    } finally {
      release();
    }
  }

  #refusing(): boolean {
    return this.#reconnecting !== undefined && !this.#waitWhileReconnecting;
  }

  async #attempt<T>(
    work: (producer: Producer, abandoned: () => boolean) => Promise<T>,
    remaining: () => number,
  ): Promise<T> {
    const current = this.#connected();
    let abandoned = false;
    let sending = false;
    const attempt = current.connected.then((producer) => {
      if (abandoned) throw new DeadlineExceededError(0);
      sending = true;
      return work(producer, () => abandoned);
    });
    try {
      return await withDeadline(attempt, remaining());
    } catch (error) {
      abandoned = true;
      this.#retire(current, attempt);
      this.#reconnect();
      throw new KafkaSendError(sending ? 'in-doubt' : 'not-connected', { cause: error });
    }
  }

  #connected(): Connection {
    if (!this.#current) {
      const producer = (async () => (await this.#kafka()).producer(await this.#config()))();
      const connected = producer.then(async (p) => {
        await p.connect();
        return p;
      });
      // Whoever awaits `connected` sees a failure; nobody need await `producer` itself.
      producer.catch(() => undefined);
      this.#current = { producer, connected };
    }
    return this.#current;
  }

  /**
   * Connects a new producer in the background, attempt after attempt, until one connects and
   * `refuseAfterFailureMs` has passed since the failure.
   */
  #reconnect(): void {
    if (this.#reconnecting) return;
    const generation = this.#generation;
    const stale = () => generation !== this.#generation;
    const refuseUntil = this.#now() + this.#refuseMs;
    this.#reconnecting = (async () => {
      while (!stale()) {
        const current = this.#connected();
        try {
          await withDeadline(current.connected, this.#attemptMs);
          break;
        } catch {
          this.#retire(current, current.connected);
          await new Promise((resolve) => setTimeout(resolve, this.#pauseMs));
        }
      }
      const left = refuseUntil - this.#now();
      if (left > 0 && !stale()) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
      }
    })().finally(() => {
      if (!stale()) this.#reconnecting = undefined;
    });
  }

  /** Takes the producer out of use; it is disconnected once `pending` settles. */
  #retire(current: Connection, pending: Promise<unknown>): void {
    if (this.#current === current) this.#current = undefined;
    const done = pending
      .catch(() => undefined)
      .then(() => current.producer)
      .then((p) => p.disconnect())
      .catch(() => undefined);
    this.#retiring.add(done);
    void done.finally(() => this.#retiring.delete(done));
  }

  /**
   * Disconnects, after any abandoned send has settled, and stops reconnecting (tests and
   * benchmarks; Lambda freezes the container). A later send connects again.
   */
  async disconnect(): Promise<void> {
    this.#generation++;
    this.#wake?.();
    const reconnecting = this.#reconnecting;
    this.#reconnecting = undefined;
    await this.#turn;
    await reconnecting?.catch(() => undefined);
    const current = this.#current;
    this.#current = undefined;
    await Promise.all([
      current?.producer.then((p) => p.disconnect()).catch(() => undefined),
      ...this.#retiring,
    ]);
  }
}
