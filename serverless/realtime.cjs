// @ts-check
'use strict';

/**
 * What serverless.yml derives for the WebSocket API: the URLs the functions and the page use.
 * The framework names the API `WebsocketsApi` and its stage after the service's stage.
 *
 * Offline (the local stage), `websocketEndpoint` is set: serverless-offline serves the WebSocket
 * and its `@connections` API on one port. On AWS it is left empty and the URLs are built from the
 * API's id, known only once CloudFormation creates it.
 */

const { param } = require('./aws.cjs');
const { USER_POOL_CLIENT, cognitoIssuer, readIdentity } = require('./identity.cjs');

/** The framework's logical id of the WebSocket API. */
const WEBSOCKET_API = 'WebsocketsApi';

/**
 * @typedef {(variable: string) => Promise<unknown>} ResolveVariable
 * @typedef {{ resolveVariable: ResolveVariable }} ResolverContext
 */

/**
 * `<scheme>://<api-id>.execute-api.<region>.<url suffix>/<stage>`, as CloudFormation computes it.
 * @param {string} scheme
 * @param {string} stage
 */
const apiUrl = (scheme, stage) => ({
  'Fn::Join': [
    '',
    [
      `${scheme}://`,
      { Ref: WEBSOCKET_API },
      '.execute-api.',
      { Ref: 'AWS::Region' },
      '.',
      { Ref: 'AWS::URLSuffix' },
      `/${stage}`,
    ],
  ],
});

/**
 * The `@connections` resources this stage's functions may use (API Gateway developer guide,
 * `apigateway-websocket-control-access-iam`: `<api-id>/<stage>/<method>/@connections`), one
 * connection id after it: `POST` to push, `DELETE` to close a session (past the user's limit, or
 * whose token expired).
 * @param {string} stage
 * @param {'POST' | 'DELETE'} method
 */
const connectionsArn = (stage, method = 'POST') =>
  websocketApiArn(`/${stage}/${method}/@connections/*`);

/**
 * An `execute-api` ARN of this service's WebSocket API, `path` after its id.
 * @param {string} path
 */
const websocketApiArn = (path) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':execute-api:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      ':',
      { Ref: WEBSOCKET_API },
      path,
    ],
  ],
});

/** @param {ResolveVariable} resolveVariable */
const stageOf = async (resolveVariable) => String(await resolveVariable('sls:stage'));

/**
 * What `$connect` needs to verify tokens itself on AWS, where WebSocket APIs have no JWT
 * authorizer: the issuer, audiences and scopes the HTTP API's authorizer checks, and the issuer's
 * keys (`<issuer>/.well-known/jwks.json`: Cognito's, and the usual place of an OpenID Connect
 * issuer's). Offline nothing: the local stage verifies against the local issuer already.
 * @param {ResolverContext} ctx
 */
const connectEnvironment = async ({ resolveVariable }) => {
  const identity = await readIdentity(resolveVariable);
  // `$connect` closes the oldest sessions past a user's limit, a message on an expired session
  // closes it: through the `@connections` API.
  const WEBSOCKET_ENDPOINT = await managementEndpoint({ resolveVariable });
  if (identity.local) return { WEBSOCKET_ENDPOINT };
  const issuer = identity.issuer ?? cognitoIssuer();
  return {
    WEBSOCKET_ENDPOINT,
    AUTH_ISSUER: issuer,
    AUTH_AUDIENCE: identity.issuer ? identity.audiences.join(',') : { Ref: USER_POOL_CLIENT },
    ...(identity.scopes.length > 0 ? { AUTH_SCOPES: identity.scopes.join(',') } : {}),
    AUTH_JWKS_URL: identity.issuer
      ? `${identity.issuer.replace(/\/$/, '')}/.well-known/jwks.json`
      : { 'Fn::Join': ['', [issuer, '/.well-known/jwks.json']] },
  };
};

/**
 * How the page gets a token: the local-only token route on the local stage; on AWS, signing in to
 * the stack's Cognito user pool, or, with another issuer, a token the user pastes.
 * @param {ResolverContext} ctx
 */
const pageSignIn = async ({ resolveVariable }) => {
  const identity = await readIdentity(resolveVariable);
  if (identity.local) return { PAGE_SIGN_IN: 'local' };
  if (identity.issuer) return { PAGE_SIGN_IN: 'token' };
  return { PAGE_SIGN_IN: 'cognito', PAGE_COGNITO_CLIENT_ID: { Ref: USER_POOL_CLIENT } };
};

/**
 * `WEBSOCKET_ENDPOINT`: the `@connections` API, for the functions that push or close sessions.
 * @param {ResolverContext} ctx
 */
const managementEndpoint = async ({ resolveVariable }) => {
  const local = await param(resolveVariable, 'websocketEndpoint');
  return local ? `http://${local}` : apiUrl('https', await stageOf(resolveVariable));
};

/**
 * The WebSocket routes' function may be invoked by this stack's WebSocket API only: the framework
 * grants `apigateway.amazonaws.com` without a `SourceArn` (any API of any account could then be
 * pointed at it), where its HTTP API's permissions name their API. As `resources.extensions`
 * (serverless/extensions.cjs), keyed by the framework's logical id of the permission.
 */
const websocketPermissionExtensions = () => ({
  ConnectionsLambdaPermissionWebsockets: {
    Properties: {
      SourceArn: websocketApiArn('/*'),
    },
  },
});

module.exports = {
  WEBSOCKET_API,
  websocketPermissionExtensions,
  pageSignIn,
  connectionsArn,
  connectEnvironment,
  managementEndpoint,

  /**
   * `WEBSOCKET_URL`: where the page connects.
   * @param {ResolverContext} ctx
   */
  clientUrl: async ({ resolveVariable }) => {
    const local = await param(resolveVariable, 'websocketEndpoint');
    return local ? `ws://${local}` : apiUrl('wss', await stageOf(resolveVariable));
  },
};
