// @ts-check
'use strict';

const { ParameterError, commaList, param } = require('./aws.cjs');

/**
 * Who may call the HTTP API, derived from the stage parameters. On every stage each route has
 * the JWT authorizer `identity`; on AWS it is the only gate, and by default it trusts the
 * stack's own Cognito user pool and app client (created here), or, with `authIssuer` and
 * `authAudience`, an existing OpenID Connect issuer instead (API Gateway developer guide,
 * `http-api-jwt-authorizer`).
 *
 * The user's directory id travels in a claim (`authUserIdClaim`, default `username`: Cognito
 * access tokens carry the username, which an operator sets to the directory id when creating the
 * user; docs/deploy.md). Cognito's `sub` is a UUID, and custom attributes reach ID tokens only.
 *
 * The `local` stage runs under serverless-offline, whose JWT authorizer never checks signatures:
 * there the functions verify each token themselves (`AUTH_MODE=local`, shared/identity), and the
 * demo's tokenless routes may be opened (`demoMode`). Demo mode cannot be set on any other stage.
 */

/** The stage that runs offline, and the only one where demo mode may be on. */
const LOCAL_STAGE = 'local';

/** The authorizer's name, as the routes refer to it. */
const AUTHORIZER = 'identity';

/** The scope Cognito gives the access tokens of its sign-in API (and never to ID tokens). */
const COGNITO_SIGN_IN_SCOPE = 'aws.cognito.signin.user.admin';

const USER_POOL = 'UserPool';
const USER_POOL_CLIENT = 'UserPoolClient';

/** Access and ID tokens live an hour, refresh tokens 30 days (Cognito allows 5 min to 1 day). */
const TOKEN_VALIDITY = { ACCESS_MIN: 60, ID_MIN: 60, REFRESH_DAYS: 30 };

const CLAIM_NAME = /^[A-Za-z0-9_:.-]{1,128}$/;
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/;

/**
 * @typedef {(variable: string) => Promise<unknown>} ResolveVariable
 * @typedef {{ resolveVariable: ResolveVariable }} ResolverContext
 * @typedef {{
 *   stage: string,
 *   local: boolean,
 *   demoMode: boolean,
 *   issuer: string | undefined,
 *   audiences: string[],
 *   scopes: string[],
 *   userIdClaim: string,
 * }} IdentitySettings
 */

/**
 * Reads and checks the identity parameters of the stage.
 * @param {ResolveVariable} resolveVariable
 * @returns {Promise<IdentitySettings>}
 */
const readIdentity = async (resolveVariable) => {
  const get = (/** @type {string} */ name) => param(resolveVariable, name);
  const stage = String(await resolveVariable('sls:stage'));
  const local = stage === LOCAL_STAGE;

  const demoRaw = await get('demoMode');
  if (demoRaw !== '' && demoRaw !== 'true' && demoRaw !== 'false') {
    throw new ParameterError('demoMode', '"true" or "false"', demoRaw);
  }
  const demoMode = demoRaw === 'true';
  if (demoMode && !local) {
    throw new ParameterError(
      'demoMode',
      `"false" on stage "${stage}": demo mode lets requests in without a token, so it exists on the ${LOCAL_STAGE} stage only`,
      demoRaw,
    );
  }

  const issuerRaw = await get('authIssuer');
  if (issuerRaw !== '' && !/^https:\/\/[^\s/$.?#][^\s]*$/.test(issuerRaw)) {
    throw new ParameterError(
      'authIssuer',
      "an OpenID Connect issuer URL (https://...), as the tokens' iss claim names it, or nothing for the stack's Cognito user pool",
      issuerRaw,
    );
  }
  const issuer = issuerRaw === '' ? undefined : issuerRaw;
  const audiences = commaList(await get('authAudience'));
  if (issuer && audiences.length === 0) {
    throw new ParameterError(
      'authAudience',
      `the audiences (aud or client_id) that tokens of ${issuer} carry for this API, comma-separated`,
      '',
    );
  }
  if (!issuer && audiences.length > 0) {
    throw new ParameterError(
      'authAudience',
      "nothing without authIssuer: the stack's own app client is the audience",
      audiences.join(','),
    );
  }

  const scopesRaw = await get('authScopes');
  const scopes = scopesRaw === '' ? (issuer ? [] : [COGNITO_SIGN_IN_SCOPE]) : commaList(scopesRaw);
  if (scopes.some((s) => !SCOPE.test(s))) {
    throw new ParameterError('authScopes', 'a comma-separated list of OAuth scopes', scopesRaw);
  }

  const userIdClaim = (await get('authUserIdClaim')) || 'username';
  if (!CLAIM_NAME.test(userIdClaim)) {
    throw new ParameterError(
      'authUserIdClaim',
      'the name of the claim carrying the user id, such as username or custom:user_id',
      userIdClaim,
    );
  }
  return { stage, local, demoMode, issuer, audiences, scopes, userIdClaim };
};

/** @param {ResolverContext} ctx */
const settingsOf = ({ resolveVariable }) => readIdentity(resolveVariable);

/**
 * The Cognito user pool and app client the stack creates when no issuer is given. Users are
 * created by an operator only (no self sign-up), each with its directory id as username.
 */
const cognitoResources = () => ({
  [USER_POOL]: {
    Type: 'AWS::Cognito::UserPool',
    Properties: {
      UserPoolName: { 'Fn::Sub': `\${AWS::StackName}-users` },
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      // "1" and "01" must not become two users; ids are digits, so case matters nowhere else.
      UsernameConfiguration: { CaseSensitive: false },
      Policies: {
        PasswordPolicy: {
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: false,
          TemporaryPasswordValidityDays: 7,
        },
      },
      AccountRecoverySetting: { RecoveryMechanisms: [{ Name: 'admin_only', Priority: 1 }] },
    },
  },
  [USER_POOL_CLIENT]: {
    Type: 'AWS::Cognito::UserPoolClient',
    Properties: {
      UserPoolId: { Ref: USER_POOL },
      ClientName: { 'Fn::Sub': `\${AWS::StackName}-api` },
      // A public client (a browser, the CLI): no secret to keep.
      GenerateSecret: false,
      ExplicitAuthFlows: [
        'ALLOW_USER_SRP_AUTH',
        'ALLOW_USER_PASSWORD_AUTH',
        'ALLOW_REFRESH_TOKEN_AUTH',
      ],
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
      AccessTokenValidity: TOKEN_VALIDITY.ACCESS_MIN,
      IdTokenValidity: TOKEN_VALIDITY.ID_MIN,
      RefreshTokenValidity: TOKEN_VALIDITY.REFRESH_DAYS,
      TokenValidityUnits: { AccessToken: 'minutes', IdToken: 'minutes', RefreshToken: 'days' },
    },
  },
});

/** The `iss` of the stack's user pool's tokens (the issuer URL the authorizer trusts). */
const cognitoIssuer = () => ({
  'Fn::Sub': `https://cognito-idp.\${AWS::Region}.\${AWS::URLSuffix}/\${${USER_POOL}}`,
});

module.exports = {
  AUTHORIZER,
  COGNITO_SIGN_IN_SCOPE,
  LOCAL_STAGE,
  USER_POOL,
  USER_POOL_CLIENT,
  cognitoIssuer,
  readIdentity,

  /**
   * `provider.httpApi.authorizers.identity`: the JWT authorizer of every route.
   * @param {ResolverContext} ctx
   */
  authorizer: async (ctx) => {
    const s = await settingsOf(ctx);
    return {
      type: 'jwt',
      identitySource: '$request.header.Authorization',
      issuerUrl: s.issuer ?? cognitoIssuer(),
      audience: s.issuer ? s.audiences : [{ Ref: USER_POOL_CLIENT }],
    };
  },

  /**
   * Each route's `authorizer`: the JWT authorizer, with the scopes a token must carry (one of).
   * @param {ResolverContext} ctx
   */
  routeAuthorizer: async (ctx) => {
    const s = await settingsOf(ctx);
    return { name: AUTHORIZER, ...(s.scopes.length > 0 ? { scopes: s.scopes } : {}) };
  },

  /**
   * The functions' identity settings (shared/config.ts).
   * @param {ResolverContext} ctx
   */
  environment: async (ctx) => {
    const s = await settingsOf(ctx);
    return {
      AUTH_MODE: s.local ? 'local' : 'gateway',
      AUTH_USER_ID_CLAIM: s.userIdClaim,
      // Read by the local mode's verifier; on AWS the authorizer has checked them.
      AUTH_SCOPES: s.local ? s.scopes.join(',') : null,
      DEMO_MODE: s.local ? String(s.demoMode) : null,
      // Cognito's access tokens say `token_use: access` (its ID tokens `id`); another issuer's
      // tokens need not carry the claim.
      AUTH_TOKEN_USE: s.issuer ? 'any' : 'access',
    };
  },

  /**
   * The resources of the stack's own identity provider, and where to find them; nothing when the
   * stage names an existing issuer.
   * @param {ResolverContext} ctx
   */
  resources: async (ctx) => {
    const s = await settingsOf(ctx);
    if (s.issuer) return {};
    return {
      Resources: cognitoResources(),
      Outputs: {
        UserPoolId: {
          Description: 'The Cognito user pool whose access tokens the API accepts',
          Value: { Ref: USER_POOL },
        },
        UserPoolClientId: {
          Description: "The app client to sign in with (its id is the tokens' client_id)",
          Value: { Ref: USER_POOL_CLIENT },
        },
      },
    };
  },
};
