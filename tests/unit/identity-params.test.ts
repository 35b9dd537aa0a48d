import { describe, expect, it } from 'vitest';
import identity from '../../serverless/identity.cjs';

/**
 * serverless/identity.cjs: the JWT authorizer, the Cognito resources and the functions' identity
 * settings, per stage. The packaged template is checked as a whole in tests/deploy.
 */

const ctx = (stage: string, params: Record<string, string> = {}) => ({
  resolveVariable: async (variable: string) => {
    if (variable === 'sls:stage') return stage;
    const name = /^param:(\w+), ''$/.exec(variable)?.[1];
    if (!name) throw new Error(`unexpected variable ${variable}`);
    return params[name] ?? '';
  },
});

const COGNITO_ISSUER = {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
  'Fn::Sub': 'https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}',
};

describe('serverless/identity.cjs', () => {
  it("trusts the stack's Cognito pool and app client by default, with the sign-in scope", async () => {
    const stage = ctx('prod');
    expect(await identity.authorizer(stage)).toEqual({
      type: 'jwt',
      identitySource: '$request.header.Authorization',
      issuerUrl: COGNITO_ISSUER,
      audience: [{ Ref: 'UserPoolClient' }],
    });
    expect(await identity.routeAuthorizer(stage)).toEqual({
      name: 'identity',
      scopes: ['aws.cognito.signin.user.admin'],
    });
    const { Resources } = (await identity.resources(stage)) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    expect(Object.keys(Resources)).toEqual(['UserPool', 'UserPoolClient']);
    expect(Resources.UserPool?.Properties.AdminCreateUserConfig).toEqual({
      AllowAdminCreateUserOnly: true,
    });
    expect(Resources.UserPoolClient?.Properties).toMatchObject({
      GenerateSecret: false,
      ExplicitAuthFlows: expect.arrayContaining(['ALLOW_USER_PASSWORD_AUTH']),
    });
  });

  it('lets the functions read the claims API Gateway verified, with demo mode out of reach', async () => {
    expect(await identity.environment(ctx('prod'))).toEqual({
      AUTH_MODE: 'gateway',
      AUTH_USER_ID_CLAIM: 'username',
      AUTH_SCOPES: null,
      DEMO_MODE: null,
      // Cognito's access tokens only (its ID tokens say token_use: id).
      AUTH_TOKEN_USE: 'access',
    });
  });

  it('uses an existing OIDC issuer instead, creating no user pool', async () => {
    const stage = ctx('prod', {
      authIssuer: 'https://login.example.com/realms/acme',
      authAudience: 'notifications-api, notifications-web',
      authUserIdClaim: 'custom:user_id',
    });
    // Another issuer's tokens need not carry token_use.
    expect((await identity.environment(stage)).AUTH_TOKEN_USE).toBe('any');
    expect(await identity.authorizer(stage)).toMatchObject({
      issuerUrl: 'https://login.example.com/realms/acme',
      audience: ['notifications-api', 'notifications-web'],
    });
    expect(await identity.routeAuthorizer(stage)).toEqual({ name: 'identity' });
    expect(await identity.resources(stage)).toEqual({});
    expect((await identity.environment(stage)).AUTH_USER_ID_CLAIM).toBe('custom:user_id');
  });

  it('requires the given scopes on every route', async () => {
    const stage = ctx('prod', { authScopes: 'notifications/read,notifications/write' });
    expect(await identity.routeAuthorizer(stage)).toEqual({
      name: 'identity',
      scopes: ['notifications/read', 'notifications/write'],
    });
  });

  it('verifies tokens in the functions on the local stage, where demo mode may be on', async () => {
    expect(await identity.environment(ctx('local', { demoMode: 'true' }))).toEqual({
      AUTH_MODE: 'local',
      AUTH_USER_ID_CLAIM: 'username',
      AUTH_SCOPES: 'aws.cognito.signin.user.admin',
      DEMO_MODE: 'true',
      AUTH_TOKEN_USE: 'access',
    });
    expect((await identity.environment(ctx('local', { demoMode: 'false' }))).DEMO_MODE).toBe(
      'false',
    );
  });

  it.each([
    ['example', { demoMode: 'true' }, 'demoMode', 'local stage only'],
    ['prod', { demoMode: 'true' }, 'demoMode', 'local stage only'],
    ['local', { demoMode: 'yes' }, 'demoMode', '"true" or "false"'],
    ['prod', { authIssuer: 'http://login.example.com' }, 'authIssuer', 'https://'],
    ['prod', { authIssuer: 'https://login.example.com' }, 'authAudience', 'comma-separated'],
    ['prod', { authAudience: 'abc' }, 'authAudience', 'nothing without authIssuer'],
    ['prod', { authScopes: 'has"quote' }, 'authScopes', 'OAuth scopes'],
    ['prod', { authUserIdClaim: 'user id' }, 'authUserIdClaim', 'claim'],
  ])('stops packaging stage %s on %j, naming %s', async (stage, params, name, expected) => {
    for (const resolve of [
      identity.authorizer,
      identity.routeAuthorizer,
      identity.environment,
      identity.resources,
    ]) {
      const error = await resolve(ctx(stage, params)).catch((e: unknown) => e);
      // identity.cjs requires aws.cjs itself: the same class, another module instance here.
      expect(error).toMatchObject({ name: 'ParameterError' });
      expect(String(error)).toContain(`Stage parameter "${name}"`);
      expect(String(error)).toContain(expected);
    }
  });
});
