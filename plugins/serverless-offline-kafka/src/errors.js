// @ts-check
'use strict';

/**
 * The plugin's errors, by what they mean. Each sets `name` (log lines show it) and chains the
 * error it wraps, if any, as `cause` (`new MappingError(message, { cause })`).
 */

/** Base of the plugin's own errors. */
class OfflineKafkaError extends Error {
  /** @override */
  name = 'OfflineKafkaError';
}

/** A mapping AWS would refuse (CreateEventSourceMapping's validation): it is not started. */
class MappingError extends OfflineKafkaError {
  /** @override */
  name = 'MappingError';
}

/** A filter pattern AWS would refuse (event filtering's grammar); reported as a MappingError. */
class FilterError extends OfflineKafkaError {
  /** @override */
  name = 'FilterError';
}

/** A secret a mapping names that is missing offline, or unusable as Lambda would use it. */
class SecretError extends OfflineKafkaError {
  /** @override */
  name = 'SecretError';
}

/**
 * The cluster refused the mapping's credentials, or the two sides do not trust each other's
 * certificates: the mapping is not started (no retry makes it work).
 */
class AuthenticationError extends OfflineKafkaError {
  /** @override */
  name = 'AuthenticationError';
}

/**
 * A record batch that cannot be decoded: its partition is fetched again with backoff, other
 * partitions go on.
 */
class RecordBatchError extends OfflineKafkaError {
  /** @override */
  name = 'RecordBatchError';
}

/** A record batch whose codec's data is malformed, or would decompress past the bound. */
class CompressionError extends RecordBatchError {
  /** @override */
  name = 'CompressionError';
}

/**
 * A schema registry that cannot be read. `retriable` when it may answer later (no connection, a
 * timeout, a server error): the partition waits and asks again, no record is skipped.
 */
class SchemaRegistryError extends OfflineKafkaError {
  /** @override */
  name = 'SchemaRegistryError';
  retriable = false;
}

module.exports = {
  AuthenticationError,
  CompressionError,
  FilterError,
  MappingError,
  OfflineKafkaError,
  RecordBatchError,
  SecretError,
  SchemaRegistryError,
};
