// @ts-check
'use strict';

/**
 * A serverless plugin: the functions named in `custom.localOnlyFunctions` exist on the local
 * stage only. On any other stage they are removed from the service before anything is packaged
 * or deployed, so an AWS stage has neither the function nor its routes (tests/deploy proves it).
 */

const LOCAL_STAGE = 'local';

class LocalOnlyFunctions {
  /**
   * @param {{ service: { custom?: Record<string, unknown>, functions: Record<string, unknown> }, getProvider: (name: string) => { getStage: () => string } }} serverless
   * @param {Record<string, unknown>} _options
   * @param {{ log: { info: (message: string) => void } }} utils
   */
  constructor(serverless, _options, { log }) {
    this.hooks = {
      initialize: () => {
        const stage = serverless.getProvider('aws').getStage();
        const names = serverless.service.custom?.localOnlyFunctions;
        if (stage === LOCAL_STAGE || !Array.isArray(names)) return;
        for (const name of names) {
          if (typeof name !== 'string' || !(name in serverless.service.functions)) continue;
          delete serverless.service.functions[name];
          log.info(`${name}: local stage only, left out of stage "${stage}"`);
        }
      },
    };
  }
}

module.exports = LocalOnlyFunctions;
