import type { Kafka, Producer, ProducerConfig } from 'kafkajs';
import { withDeadline } from '../deadline.js';
import { DeadlineExceededError, KafkaSendError } from '../errors.js';

export const SERIAL_PRODUCER_DEFAULTS = {
  /**
   * After a failed send, later sends are refused at once for this long instead of each waiting
   * out its deadline on a broker that just failed; then the next one tries a fresh producer.
   */
  COOL_DOWN_MS: 500,
} as const;

export interface SerialProducerOptions {
  readonly coolDownMs?: number;
  /** A monotonic clock in ms; tests pass their own. */
  readonly now?: () => number;
}

/** A producer and its connection under way. */
interface Connection {
  readonly producer: Producer;
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
 */
export class SerialProducer {
  readonly #kafka: Kafka;
  readonly #config: () => ProducerConfig;
  readonly #coolDownMs: number;
  readonly #now: () => number;
  #current: Connection | undefined;
  /** Settles when the send holding the producer is done; the next one waits for it. */
  #turn: Promise<void> = Promise.resolve();
  #coolUntil = 0;
  /** Replaced producers still finishing an abandoned send; disconnected once it settles. */
  readonly #retiring = new Set<Promise<void>>();

  /** `config` is called for each new producer (a transactional id must be fresh, say). */
  constructor(kafka: Kafka, config: () => ProducerConfig, options: SerialProducerOptions = {}) {
    this.#kafka = kafka;
    this.#config = config;
    this.#coolDownMs = options.coolDownMs ?? SERIAL_PRODUCER_DEFAULTS.COOL_DOWN_MS;
    this.#now = options.now ?? (() => performance.now());
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
      if (this.#now() < this.#coolUntil) throw new KafkaSendError('cooling-down');
      return await this.#attempt(work, remaining);
    } finally {
      release();
    }
  }

  async #attempt<T>(
    work: (producer: Producer, abandoned: () => boolean) => Promise<T>,
    remaining: () => number,
  ): Promise<T> {
    const current = this.#connected();
    const connecting = current.connected;
    let abandoned = false;
    let sending = false;
    const attempt = connecting.then((producer) => {
      if (abandoned) throw new DeadlineExceededError(0);
      sending = true;
      return work(producer, () => abandoned);
    });
    try {
      return await withDeadline(attempt, remaining());
    } catch (error) {
      abandoned = true;
      this.#retire(current, attempt);
      this.#coolUntil = this.#now() + this.#coolDownMs;
      throw new KafkaSendError(sending ? 'in-doubt' : 'not-connected', { cause: error });
    }
  }

  #connected(): Connection {
    if (!this.#current) {
      const producer = this.#kafka.producer(this.#config());
      this.#current = { producer, connected: producer.connect().then(() => producer) };
    }
    return this.#current;
  }

  /** Takes the producer out of use; it is disconnected once `pending` settles. */
  #retire(current: Connection, pending: Promise<unknown>): void {
    if (this.#current === current) this.#current = undefined;
    const done = pending
      .catch(() => undefined)
      .then(() => current.producer.disconnect())
      .catch(() => undefined);
    this.#retiring.add(done);
    void done.finally(() => this.#retiring.delete(done));
  }

  /** Disconnects, after any abandoned send has settled (tests and benchmarks; Lambda freezes). */
  async disconnect(): Promise<void> {
    await this.#turn;
    const current = this.#current;
    this.#current = undefined;
    await Promise.all([current?.producer.disconnect().catch(() => undefined), ...this.#retiring]);
  }
}
