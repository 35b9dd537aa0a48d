import type { ICustomPartitioner, Message, PartitionMetadata, RecordMetadata } from 'kafkajs';
import { IncompleteAcknowledgementError } from '../errors.js';

/** Where a record was written. Offsets are strings: Kafka offsets are 64-bit. */
export interface Placement {
  readonly partition: number;
  readonly offset: string;
}

/** A message's key, comparable; `undefined` when it has none. */
const keyOf = (message: Message | undefined): string | undefined =>
  message?.key == null ? undefined : Buffer.from(message.key).toString('base64');

/** One produce call: `messages`, all for one partition, to the sender's topic. */
export type SendBatch = (messages: Message[]) => Promise<RecordMetadata[]>;

/**
 * Sends a topic's messages with one produce call per partition, the calls all at once, and tells
 * where each message was written.
 *
 * Why not one `sendBatch` of them all: kafkajs (2.2.4, src/producer/sendMessages.js) retries a
 * send that spans brokers broker by broker, keeping the answers of the brokers that answered.
 * When a partition whose write failed (NOT_LEADER_OR_FOLLOWER: its leader moved) now has for
 * leader a broker that already answered for another partition, the retry skips it, and the send
 * resolves without that partition written: half a transaction committed, or dead letters
 * acknowledged and never written. When a partition that was written moves with a failed one to a
 * third broker, it is sent again with its next sequence number, and written twice (kafkajs#1798,
 * open). The rolling-restart fault test saw both (tests/faults/cluster.test.ts). A call for one
 * partition talks to one broker at a time: its retry sends again exactly what failed, with the
 * same sequence number, which the broker recognises.
 *
 * Each message is given its partition before it is sent (murmur2 of its key, as the producer's
 * own partitioner would), so a call holds exactly one partition's messages, in their order. The
 * topic's partitions are learnt from kafkajs through `partitioner`; until then, the first
 * message's key goes alone, as one call.
 */
export class PartitionedSender {
  readonly #topic: string;
  readonly #createPartitioner: ICustomPartitioner;
  readonly #choose: ReturnType<ICustomPartitioner>;
  #partitionMetadata: PartitionMetadata[] | undefined;

  /** `createPartitioner`: kafkajs's `Partitioners.DefaultPartitioner` (given: kafkajs loads late). */
  constructor(topic: string, createPartitioner: ICustomPartitioner) {
    this.#topic = topic;
    this.#createPartitioner = createPartitioner;
    this.#choose = createPartitioner();
  }

  /** The producer's `createPartitioner`: places as given, and learns the topic's partitions. */
  readonly partitioner: ICustomPartitioner = () => {
    const choose = this.#createPartitioner();
    return (args) => {
      if (args.topic === this.#topic) this.#partitionMetadata = args.partitionMetadata;
      return choose(args);
    };
  };

  /** The partitions keyed `messages` will go to, once the topic's partitions are known. */
  partitionsOf(messages: readonly Message[]): number[] | undefined {
    const partitionMetadata = this.#partitionMetadata;
    if (!partitionMetadata?.length) return undefined;
    const topic = this.#topic;
    return [
      ...new Set(messages.map((message) => this.#choose({ topic, partitionMetadata, message }))),
    ];
  }

  /**
   * Sends `messages` with `sendBatch`, one call per partition, and resolves with each one's
   * placement, in order.
   * @throws IncompleteAcknowledgementError when a call's acknowledgement is not for its one
   * partition: in a transaction, abort it.
   */
  async send(messages: readonly Message[], sendBatch: SendBatch): Promise<Placement[]> {
    const placed = new Map<number, Placement>();
    let pending = messages.map((message, index) => ({ message, index }));
    if (!this.#partitionMetadata?.length && pending.length > 0) {
      // One key is one partition: the first message's key goes first, to learn the partitions.
      const key = keyOf(pending[0]?.message);
      const first = pending.filter(({ message }) => key !== undefined && keyOf(message) === key);
      const group = first.length > 0 ? first : pending.slice(0, 1);
      await this.#sendGroup(group, undefined, sendBatch, placed);
      pending = pending.filter((entry) => !group.includes(entry));
    }
    const partitionMetadata = this.#partitionMetadata;
    if (pending.length > 0 && !partitionMetadata?.length) {
      throw new IncompleteAcknowledgementError('The topic has no partitions to write to');
    }
    const groups = new Map<number, typeof pending>();
    for (const entry of pending) {
      const partition = this.#choose({
        topic: this.#topic,
        partitionMetadata: partitionMetadata ?? [],
        message: entry.message,
      });
      groups.set(partition, [...(groups.get(partition) ?? []), entry]);
    }
    await Promise.all(
      [...groups].map(([partition, group]) => this.#sendGroup(group, partition, sendBatch, placed)),
    );
    return messages.map((_, index) => {
      const placement = placed.get(index);
      if (!placement) throw new IncompleteAcknowledgementError('A record was not sent');
      return placement;
    });
  }

  /** One produce call for `group` (all bound to `partition`, or to one left to the producer). */
  async #sendGroup(
    group: readonly { readonly message: Message; readonly index: number }[],
    partition: number | undefined,
    sendBatch: SendBatch,
    placed: Map<number, Placement>,
  ): Promise<void> {
    const metadata = (
      await sendBatch(
        group.map(({ message }) => (partition === undefined ? message : { ...message, partition })),
      )
    ).filter((m) => m.topicName === this.#topic);
    const [ack] = metadata;
    const base = ack?.baseOffset === undefined ? -1n : BigInt(ack.baseOffset);
    if (
      metadata.length !== 1 ||
      !ack ||
      (partition !== undefined && ack.partition !== partition) ||
      base < 0n
    ) {
      throw new IncompleteAcknowledgementError(
        'The broker did not acknowledge the records with one offset for their partition',
      );
    }
    group.forEach(({ index }, rank) => {
      placed.set(index, { partition: ack.partition, offset: (base + BigInt(rank)).toString() });
    });
  }
}
