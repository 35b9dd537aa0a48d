// @ts-check
'use strict';

const { statePortOf, stateUrlOf } = require('./cluster-view.cjs');

/**
 * A serverless plugin: under `sls offline start`, the Kafka emulator's state port and the
 * cluster page's `KAFKA_STATE_URL` follow serverless-offline's Lambda port as the command line
 * sets it (`--lambdaPort N`: the state on N + 1), which serverless.yml's variables cannot see
 * (serverless/cluster-view.cjs). So two `sls offline start` on different ports (a test's and
 * `npm start`) never share a state port, nor read each other's state. Runs before the Kafka
 * plugin and serverless-offline read them (both at `offline:start:init`).
 */
class ClusterViewPorts {
  /**
   * @param {{ service: { custom?: Record<string, any>, functions?: Record<string, any> } }} serverless
   * @param {Record<string, unknown>} options
   */
  constructor(serverless, options) {
    this.hooks = {
      'before:offline:start:init': () => {
        const { custom = {}, functions = {} } = serverless.service;
        const kafka = custom['serverless-offline-kafka'];
        if (!kafka || kafka.statePort === undefined || kafka.statePort === null) return;
        const port = statePortOf(options, custom['serverless-offline']);
        kafka.statePort = port;
        const environment = functions.clusterView?.environment;
        if (environment?.KAFKA_STATE_URL !== undefined)
          environment.KAFKA_STATE_URL = stateUrlOf(port);
      },
    };
  }
}

module.exports = ClusterViewPorts;
