// @ts-check
'use strict';

const { createServer } = require('node:http');
const { describe } = require('./util');

/**
 * The plugin's state, read-only, for tools that show what the event source mappings do (the
 * project's cluster page, a script, a test): each mapping's settings, its pollers, the partitions
 * each owns, the batch in flight per partition, and its counters. `stateOf` builds the snapshot
 * (plain JSON data, a new object each time); `serveState` answers it over HTTP on the loopback
 * interface only. Nothing here changes the mappings. The shape is documented in the README
 * ("State") and versioned by `version`.
 *
 * @typedef {import('./source').MappingSnapshot} MappingSnapshot
 * @typedef {{ version: 1, at: number, mappings: MappingSnapshot[] }} PluginState `at`: when the
 *   snapshot was taken (ms since the epoch).
 * @typedef {import('./util').Log} Log
 */

const STATE_VERSION = 1;
/** The only interface the state server listens on: it is for this machine alone. */
const LOOPBACK = '127.0.0.1';
const STATE_PATHS = new Set(['/', '/state']);

/**
 * @param {readonly { snapshot(): MappingSnapshot }[]} sources
 * @param {number} [now]
 * @returns {PluginState}
 */
const stateOf = (sources, now = Date.now()) => ({
  version: STATE_VERSION,
  at: now,
  mappings: sources.map((s) => s.snapshot()),
});

/**
 * Serves `read()` as JSON at `GET http://127.0.0.1:<port>/state` (and `/`). Resolves with the
 * server once it listens, or with `undefined` when it cannot (the port taken or not a port:
 * logged, the event sources go on). Never rejects.
 * @param {{ port: number, read: () => PluginState, log: Log }} options
 * @returns {Promise<import('node:http').Server | undefined>}
 */
const serveState = ({ port, read, log }) => {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const answer = (/** @type {number} */ status, /** @type {unknown} */ body) => {
      response.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      response.end(JSON.stringify(body));
    };
    if (!STATE_PATHS.has(path)) {
      answer(404, { error: 'No such path: the state is at GET /state.' });
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      answer(405, { error: `${request.method} is not allowed: the state is read-only (GET).` });
      return;
    }
    try {
      answer(200, read());
    } catch (error) {
      log.error(`Kafka state: ${describe(error)}`);
      answer(500, { error: 'The state could not be read.' });
    }
  });
  return new Promise((resolve) => {
    let listening = false;
    const refused = (/** @type {unknown} */ error) => {
      log.error(`Kafka state not served on ${LOOPBACK}:${port}: ${describe(error)}`);
      server.close();
      resolve(undefined);
    };
    // Kept for the server's whole life: an error after it listens is logged, never thrown (an
    // unhandled 'error' event would end the offline process).
    server.on('error', (error) => {
      if (listening) log.error(`Kafka state server: ${describe(error)}`);
      else refused(error);
    });
    try {
      server.listen(port, LOOPBACK, () => {
        listening = true;
        server.unref();
        const { port: bound } = /** @type {import('node:net').AddressInfo} */ (server.address());
        log.notice(`Kafka state: http://${LOOPBACK}:${bound}/state`);
        resolve(server);
      });
    } catch (error) {
      // A port out of range throws here rather than emitting 'error'.
      refused(error);
    }
  });
};

module.exports = { STATE_VERSION, serveState, stateOf };
