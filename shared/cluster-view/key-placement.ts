import kafkajs from 'kafkajs';

/**
 * Where a keyed record goes: the partition the project's producer picks for it. The producer
 * (shared/kafka/publisher.ts) uses kafkajs's DefaultPartitioner, the Java client's: the key's
 * murmur2 hash, made positive, modulo the topic's number of partitions. Called with the same
 * function, so that the page shows what the producer does, not a copy of it.
 */

export interface KeyPlacement {
  readonly key: string;
  readonly topic: string;
  readonly partitions: number;
  readonly partition: number;
}

/** The partition of `key` on `topic`, which has `partitions` partitions (at least 1). */
export const placeKey = (key: string, topic: string, partitions: number): KeyPlacement => {
  const partitioner = kafkajs.Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [],
    isr: [],
  }));
  const partition = partitioner({ topic, partitionMetadata, message: { key, value: null } });
  return { key, topic, partitions, partition };
};
