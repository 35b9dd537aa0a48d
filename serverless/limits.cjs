// @ts-check
'use strict';

/**
 * The limits of the service, from one place: the `limits` stage parameters of serverless.yml
 * (README, "Limits and abuse"). Two layers, because neither alone does both jobs:
 *
 * - API Gateway's route throttling (`DefaultRouteSettings` of the HTTP API's and the WebSocket
 *   API's stages): a token bucket per route for every caller together, answered 429 by the
 *   gateway before any function runs (API Gateway developer guide, `http-api-throttling`). It
 *   keeps the whole API within what its functions and Kafka can take, but cannot tell one user
 *   from another: one user alone could use all of it.
 * - The per-sender limit the sending function enforces (`SEND_RATE_LIMIT` per
 *   `SEND_RATE_WINDOW_S`, counted in DynamoDB: shared/limits/send-rate.ts), the same code offline
 *   and on AWS: what keeps one user from filling inboxes or the topic for the others.
 */

const { param } = require('./aws.cjs');

/** @typedef {import('./aws.cjs').ResolverContext} ResolverContext */

/**
 * @param {string} name
 * @param {string} raw
 * @param {{ min: number, max: number }} range
 */
const intParam = (name, raw, { min, max }) => {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(
      `Stage parameter "${name}" must be a whole number from ${min} to ${max}; received "${raw}"`,
    );
  }
  return value;
};

/** @param {ResolverContext['resolveVariable']} resolveVariable */
const readLimits = async (resolveVariable) => ({
  sendRateLimit: intParam('sendRateLimit', await param(resolveVariable, 'sendRateLimit'), {
    min: 0,
    max: 1_000_000_000,
  }),
  sendRateWindow: intParam('sendRateWindow', await param(resolveVariable, 'sendRateWindow'), {
    min: 1,
    max: 3_600,
  }),
  apiThrottleRate: intParam('apiThrottleRate', await param(resolveVariable, 'apiThrottleRate'), {
    min: 1,
    max: 10_000,
  }),
  apiThrottleBurst: intParam('apiThrottleBurst', await param(resolveVariable, 'apiThrottleBurst'), {
    min: 1,
    max: 5_000,
  }),
});

/**
 * The throttling of every route of a stage (an `AWS::ApiGatewayV2::Stage`'s
 * `DefaultRouteSettings`), for HTTP and WebSocket APIs alike.
 * @param {{ apiThrottleRate: number, apiThrottleBurst: number }} limits
 */
const routeThrottling = (limits) => ({
  ThrottlingRateLimit: limits.apiThrottleRate,
  ThrottlingBurstLimit: limits.apiThrottleBurst,
});

module.exports = {
  readLimits,
  routeThrottling,

  /**
   * The sending function's per-sender limit.
   * @param {ResolverContext} ctx
   */
  sendEnvironment: async ({ resolveVariable }) => {
    const limits = await readLimits(resolveVariable);
    return {
      SEND_RATE_LIMIT: String(limits.sendRateLimit),
      SEND_RATE_WINDOW_S: String(limits.sendRateWindow),
    };
  },

  /**
   * The throttling of both APIs' stages (the framework names them `HttpApiStage` and
   * `WebsocketsDeploymentStage`), as `resources.extensions` (serverless/extensions.cjs).
   * @param {ResolverContext['resolveVariable']} resolveVariable
   */
  stageExtensions: async (resolveVariable) => {
    const throttling = routeThrottling(await readLimits(resolveVariable));
    return {
      HttpApiStage: { Properties: { DefaultRouteSettings: throttling } },
      WebsocketsDeploymentStage: { Properties: { DefaultRouteSettings: throttling } },
    };
  },
};
