// @ts-check
'use strict';

/**
 * Small helpers shared by the plugin's modules: how errors and records are named in log lines,
 * and a bounded wait.
 *
 * @typedef {{ notice(m: string): void, warning(m: string): void, error(m: string): void, debug(m: string): void }} Log
 *   The serverless framework's log levels, as each mapping's system log (`LoggingConfig`) filters
 *   them.
 * @typedef {import('./event').LambdaKafkaRecord} LambdaKafkaRecord
 */

/**
 * An error as a log line shows it: `Name: message`, or the bare message for a plain `Error`.
 * @param {unknown} error
 */
const describe = (error) => {
  if (error instanceof Error)
    return `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`;
  return String(error);
};

/**
 * An error's message alone, for messages that wrap it.
 * @param {unknown} error
 */
const messageOf = (error) => (error instanceof Error ? error.message : String(error));

/**
 * @param {unknown} v
 * @returns {v is Record<string, unknown>}
 */
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `topic-0 [3..7] topic-2 [9]`: each partition's lowest and highest offset among `records`.
 * @param {string} topic
 * @param {readonly LambdaKafkaRecord[]} records
 */
const offsetRanges = (topic, records) => {
  /** @type {Map<number, { first: number, last: number }>} */
  const byPartition = new Map();
  for (const r of records) {
    const range = byPartition.get(r.partition);
    if (!range) byPartition.set(r.partition, { first: r.offset, last: r.offset });
    else {
      range.first = Math.min(range.first, r.offset);
      range.last = Math.max(range.last, r.offset);
    }
  }
  return [...byPartition]
    .map(
      ([p, { first, last }]) =>
        `${topic}-${p} ${first === last ? `[${first}]` : `[${first}..${last}]`}`,
    )
    .join(' ');
};

/**
 * `Kafka fn topic-0 [3..7] topic-2 [9]`: the function and each partition's offsets, the start of
 * every line about some of a mapping's records (the topic alone when there are none).
 * @param {{ functionKey: string, topic: string }} mapping
 * @param {readonly LambdaKafkaRecord[]} records
 */
const recordsLabel = (mapping, records) =>
  `Kafka ${mapping.functionKey} ${offsetRanges(mapping.topic, records) || mapping.topic}`;

/**
 * `promise`, or `fallback` once `ms` have passed first.
 * @template T, F
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {F} fallback
 * @returns {Promise<T | F>}
 */
const withTimeout = (promise, ms, fallback) => {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  return Promise.race([
    promise,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(fallback), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

module.exports = { describe, isObject, messageOf, offsetRanges, recordsLabel, withTimeout };
