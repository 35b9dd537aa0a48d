// @ts-check
'use strict';

/**
 * Where the local cluster page (functions/cluster-view) reads the Kafka emulator's state: the
 * plugin serves it on 127.0.0.1 at the port after serverless-offline's Lambda port (3003 for
 * `npm start`), and the page's function is told where. Offline only: the function exists on the
 * local stage alone (serverless/local-only.cjs).
 *
 * The variables below give the defaults, from serverless.yml's own Lambda port: the framework
 * resolves variables before it knows serverless-offline's options, so `--lambdaPort` is not in
 * their `options`. serverless/cluster-view-ports.cjs, a plugin, which does see it, moves both
 * to `--lambdaPort + 1` when `sls offline start` starts.
 */

const { LOCAL_STAGE } = require('./identity.cjs');

/** serverless-offline's default Lambda port, as serverless.yml sets it. */
const DEFAULT_LAMBDA_PORT = 3002;

/**
 * The state's port: the one after the Lambda port given, else serverless-offline's custom one,
 * else its default.
 * @param {{ lambdaPort?: unknown }} options
 * @param {{ lambdaPort?: unknown }} [offline] custom['serverless-offline']
 */
const statePortOf = (options, offline = {}) =>
  Number(options.lambdaPort ?? offline.lambdaPort ?? DEFAULT_LAMBDA_PORT) + 1;

/** @param {number} port */
const stateUrlOf = (port) => `http://127.0.0.1:${port}/state`;

module.exports = {
  statePortOf,
  stateUrlOf,
  /** @param {{ options?: Record<string, unknown> }} context */
  statePort: async ({ options = {} }) => statePortOf(options),
  /**
   * The page function's environment: the state's URL, on the local stage.
   * @param {{ options?: Record<string, unknown>, resolveVariable: (v: string) => Promise<unknown> }} context
   */
  environment: async (context) =>
    String(await context.resolveVariable('sls:stage')) === LOCAL_STAGE
      ? { KAFKA_STATE_URL: stateUrlOf(statePortOf(context.options ?? {})) }
      : {},
};
