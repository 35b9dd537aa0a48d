// @ts-check
'use strict';

/**
 * `resources.extensions`: what the framework's own resources need beyond what serverless.yml can
 * say, keyed by their logical ids (computed: YAML keys cannot hold variables). The consumers'
 * event source mappings (serverless/aws.cjs), the throttling of both APIs' stages
 * (serverless/limits.cjs), the WebSocket function's invoke permission scoped to its API
 * (serverless/realtime.cjs), and checkov's suppressions with their reasons (serverless/checkov.cjs).
 */

const { extensionsOf, readSettings } = require('./aws.cjs');
const { suppressions } = require('./checkov.cjs');
const { stageExtensions } = require('./limits.cjs');
const { websocketPermissionExtensions } = require('./realtime.cjs');

/** @typedef {import('./aws.cjs').ResolverContext} ResolverContext */

module.exports = {
  /** @param {ResolverContext} ctx */
  extensions: async ({ resolveVariable }) => {
    /** @type {Record<string, Record<string, unknown>>} */
    const merged = {
      ...extensionsOf(await readSettings(resolveVariable)),
      ...(await stageExtensions(resolveVariable)),
      ...websocketPermissionExtensions(),
    };
    // A resource may have both: its properties' extension and its suppressions' metadata.
    for (const [id, extension] of Object.entries(suppressions())) {
      merged[id] = { ...merged[id], ...extension };
    }
    return merged;
  },
};
