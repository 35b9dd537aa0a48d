import type { Producer, ProducerConfig } from 'kafkajs';
import type { KafkaSource } from './client.js';

/**
 * A kafkajs producer created on first use and kept for warm invocations. After a failure the
 * caller `reset()`s it, so that the next call connects afresh instead of reusing a broken one.
 */
export class LazyProducer {
  readonly #kafka: KafkaSource;
  readonly #config: () => ProducerConfig | Promise<ProducerConfig>;
  #producer: Promise<Producer> | undefined;

  /** `config` is called for each new producer (a transactional id must be fresh, say). */
  constructor(kafka: KafkaSource, config: () => ProducerConfig | Promise<ProducerConfig>) {
    this.#kafka = kafka;
    this.#config = config;
  }

  /** The connected producer. */
  get(): Promise<Producer> {
    if (!this.#producer) {
      const connecting = (async () => {
        const producer = (await this.#kafka()).producer(await this.#config());
        await producer.connect();
        return producer;
      })();
      connecting.catch(() => {
        if (this.#producer === connecting) this.#producer = undefined;
      });
      this.#producer = connecting;
    }
    return this.#producer;
  }

  /** Drops the producer (disconnecting it in the background); the next `get()` reconnects. */
  reset(): void {
    const stale = this.#producer;
    this.#producer = undefined;
    void stale?.then((p) => p.disconnect()).catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    await producer?.then((p) => p.disconnect()).catch(() => undefined);
  }
}
