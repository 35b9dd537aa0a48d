// @ts-check
'use strict';

/**
 * Where the local cluster page (functions/cluster-view) reads the Kafka emulator's state: the
 * plugin serves it on 127.0.0.1 at the port after serverless-offline's Lambda port (3003 for
 * `npm start`; a test that moves its ports moves this one too), and the page's function is told
 * where. Offline only: the function exists on the local stage alone (serverless/local-only.cjs).
 */

const { LOCAL_STAGE } = require('./identity.cjs');

/** serverless-offline's default Lambda port, as serverless.yml sets it. */
const DEFAULT_LAMBDA_PORT = 3002;

/** @param {{ options?: Record<string, unknown> }} context */
const statePort = ({ options = {} }) => Number(options.lambdaPort ?? DEFAULT_LAMBDA_PORT) + 1;

module.exports = {
  /** @param {{ options?: Record<string, unknown> }} context */
  statePort: async (context) => statePort(context),
  /**
   * The page function's environment: the state's URL, on the local stage.
   * @param {{ options?: Record<string, unknown>, resolveVariable: (v: string) => Promise<unknown> }} context
   */
  environment: async (context) =>
    String(await context.resolveVariable('sls:stage')) === LOCAL_STAGE
      ? { KAFKA_STATE_URL: `http://127.0.0.1:${statePort(context)}/state` }
      : {},
};
