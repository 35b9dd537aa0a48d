// @ts-check
'use strict';

/**
 * A serverless plugin for what exists offline only.
 *
 * - The functions named in `custom.localOnlyFunctions` exist on the local stage only. On any other
 *   stage they are removed from the service before anything is packaged or deployed, so an AWS
 *   stage has neither the function nor its routes (tests/deploy proves it).
 * - The local stage itself is never packaged or deployed: it is what `sls offline start` runs,
 *   with demo mode, functions that verify tokens of the local issuer, and the local token route.
 *   Deployed under that name, an AWS stack would carry all three.
 */

const { LOCAL_STAGE } = require('./identity.cjs');

/** Refused on the local stage: every way a package is built or sent to AWS. */
const PACKAGING_HOOKS = [
  'before:package:initialize',
  'before:deploy:deploy',
  'before:deploy:function:initialize',
];

class LocalOnly {
  /**
   * @param {{ service: { custom?: Record<string, unknown>, functions: Record<string, unknown> }, getProvider: (name: string) => { getStage: () => string } }} serverless
   * @param {Record<string, unknown>} _options
   * @param {{ log: { info: (message: string) => void } }} utils
   */
  constructor(serverless, _options, { log }) {
    const stage = () => serverless.getProvider('aws').getStage();
    const refuse = () => {
      if (stage() !== LOCAL_STAGE) return;
      const error = new Error(
        `Stage "${LOCAL_STAGE}" runs offline only (demo mode, tokens of the local issuer, the local token route): it cannot be packaged or deployed. Deploy another stage: sls deploy --stage <stage> (see docs/deploy.md).`,
      );
      // The framework prints the stack of errors thrown here: the message alone says everything.
      error.stack = error.message;
      throw error;
    };
    this.hooks = {
      initialize: () => {
        const names = serverless.service.custom?.localOnlyFunctions;
        if (stage() === LOCAL_STAGE || !Array.isArray(names)) return;
        for (const name of names) {
          if (typeof name !== 'string' || !(name in serverless.service.functions)) continue;
          delete serverless.service.functions[name];
          log.info(`${name}: local stage only, left out of stage "${stage()}"`);
        }
      },
      ...Object.fromEntries(PACKAGING_HOOKS.map((hook) => [hook, refuse])),
    };
  }
}

module.exports = LocalOnly;
