import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { ForbiddenError, InvalidTokenError, MissingTokenError } from '../../shared/errors.js';
import { challengeOf } from '../../shared/http.js';
import {
  bearerToken,
  type CallerRequest,
  createAuthenticator,
} from '../../shared/identity/authenticator.js';
import {
  ensureLocalIssuer,
  LOCAL_ISSUER_FILES,
  type LocalIssuer,
} from '../../shared/identity/local-issuer.js';
import type { IdentitySettings } from '../../shared/identity/settings.js';
import { DEFAULT_USERS, UserDirectory } from '../../shared/models/index.js';

/**
 * Who is calling, from a request: the bearer token verified offline, the authorizer's claims on
 * AWS, and the demo's tokenless client on the demo's routes only, in demo mode only.
 */

const dir = mkdtempSync(join(tmpdir(), 'identity-caller-'));
let issuer: LocalIssuer;
const users = new UserDirectory(DEFAULT_USERS);

const settings = (env: Record<string, string>): IdentitySettings =>
  loadConfig({ AUTH_JWKS_FILE: join(dir, LOCAL_ISSUER_FILES.keySet), ...env }).identity;

const offline = (demo: boolean) =>
  createAuthenticator(
    settings({ AUTH_MODE: 'local', IS_OFFLINE: 'true', DEMO_MODE: String(demo) }),
    { users },
  );
const onAws = createAuthenticator(settings({ AUTH_MODE: 'gateway' }), { users });

const withToken = (token: string, claims?: Record<string, unknown>): CallerRequest => ({
  headers: { Authorization: `Bearer ${token}` },
  ...(claims ? { requestContext: { authorizer: { jwt: { claims } } } } : {}),
});

const DEMO_ROUTE = { demo: true };
const TOKEN_ROUTE = { demo: false };

beforeAll(async () => {
  issuer = await ensureLocalIssuer(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bearerToken', () => {
  it.each([
    [{ authorization: 'Bearer abc.def.ghi' }, 'abc.def.ghi'],
    [{ Authorization: 'bearer   abc' }, 'abc'],
    // API Gateway's identity source also takes the token alone.
    [{ authorization: 'abc.def.ghi' }, 'abc.def.ghi'],
    [{ authorization: '' }, ''],
    [{ authorization: 'Bearer ' }, ''],
    [{ 'content-type': 'application/json' }, undefined],
    [undefined, undefined],
  ])('reads %j as %j', (headers, expected) => {
    expect(bearerToken(headers)).toBe(expected);
  });
});

describe('the caller of a request, offline (tokens verified here)', () => {
  it('is the user the token names', async () => {
    const token = await issuer.issue(2);
    expect(await offline(false).callerOf(withToken(token), TOKEN_ROUTE)).toEqual({
      kind: 'user',
      userId: 2,
    });
  });

  it('ignores the claims serverless-offline decoded without verifying', async () => {
    const token = await issuer.issue(2);
    const forgedClaims = { username: '1' };
    expect(await offline(false).callerOf(withToken(token, forgedClaims), TOKEN_ROUTE)).toEqual({
      kind: 'user',
      userId: 2,
    });
    const error = await offline(false)
      .callerOf(withToken('forged.token.here', forgedClaims), TOKEN_ROUTE)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenError);
  });

  it('lets a tokenless request in as the demo client on a demo route in demo mode only', async () => {
    expect(await offline(true).callerOf({ headers: {} }, DEMO_ROUTE)).toEqual({ kind: 'demo' });
    await expect(offline(true).callerOf({ headers: {} }, TOKEN_ROUTE)).rejects.toBeInstanceOf(
      MissingTokenError,
    );
    await expect(offline(false).callerOf({ headers: {} }, DEMO_ROUTE)).rejects.toBeInstanceOf(
      MissingTokenError,
    );
  });

  it('judges any token by the rules, even on a demo route in demo mode', async () => {
    for (const header of ['', 'Bearer', 'Bearer not-a-token']) {
      const error = await offline(true)
        .callerOf({ headers: { authorization: header } }, DEMO_ROUTE)
        .catch((e: unknown) => e);
      expect(error, header).toBeInstanceOf(InvalidTokenError);
    }
  });

  it('refuses a tokenless request with a foreign Origin in demo mode; the same origin, or none, passes', async () => {
    const demo = offline(true);
    const form = (headers: Record<string, string>) => demo.callerOf({ headers }, DEMO_ROUTE);
    for (const origin of [
      'https://attacker.example',
      'null',
      'http://127.0.0.1:3001',
      'nonsense',
    ]) {
      await expect(form({ origin, host: '127.0.0.1:3000' }), origin).rejects.toBeInstanceOf(
        ForbiddenError,
      );
    }
    expect(await form({ Origin: 'http://127.0.0.1:3000', Host: '127.0.0.1:3000' })).toEqual({
      kind: 'demo',
    });
    expect(await form({ host: '127.0.0.1:3000' })).toEqual({ kind: 'demo' });
  });

  it("says when a session's token expires", async () => {
    const token = await issuer.issue(2, { ttlS: 60 });
    const session = await offline(false).sessionOfToken(token);
    expect(session.userId).toBe(2);
    expect(session.expiresAt - Math.floor(Date.now() / 1000)).toBeGreaterThan(50);
  });

  it('refuses with 403 a valid token of a user the directory does not know', async () => {
    const token = await issuer.issue(99);
    const error = await offline(false)
      .sessionOfToken(token)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(String(error)).toContain('id 99');
  });
});

describe('the caller of a request, on AWS (claims verified by API Gateway)', () => {
  const claims = (username: unknown) => ({
    iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example',
    client_id: '57cbishk4j24pabc1234567890',
    token_use: 'access',
    exp: '1787996002',
    username,
  });

  it("is the user of the authorizer's claims, without verifying the token again", async () => {
    expect(await onAws.callerOf(withToken('opaque', claims('3')), TOKEN_ROUTE)).toEqual({
      kind: 'user',
      userId: 3,
    });
  });

  it.each([['emma'], ['0'], ['01'], ['007'], [''], [undefined]])(
    'refuses claims whose username is %j',
    async (username) => {
      const error = await onAws
        .callerOf(withToken('opaque', claims(username)), TOKEN_ROUTE)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 401, problem: 'user' });
    },
  );

  it('refuses the claims of an ID token (token_use: id), and of a token with no token_use', async () => {
    for (const token_use of ['id', undefined]) {
      const error = await onAws
        .callerOf(withToken('opaque', { ...claims('3'), token_use }), TOKEN_ROUTE)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 401, problem: 'token_use' });
    }
    // An issuer that does not set the claim: AUTH_TOKEN_USE=any turns the check off.
    const lenient = createAuthenticator(settings({ AUTH_MODE: 'gateway', AUTH_TOKEN_USE: 'any' }), {
      users,
    });
    expect(
      await lenient.callerOf(
        withToken('opaque', { ...claims('3'), token_use: undefined }),
        TOKEN_ROUTE,
      ),
    ).toEqual({ kind: 'user', userId: 3 });
  });

  it('refuses a token that no authorizer verified, and a request with none', async () => {
    await expect(onAws.callerOf(withToken('opaque'), TOKEN_ROUTE)).rejects.toMatchObject({
      status: 401,
      code: 'invalid_token',
    });
    // Demo mode cannot be on in gateway mode: a tokenless request is refused even on /send.
    await expect(onAws.callerOf({ headers: {} }, DEMO_ROUTE)).rejects.toBeInstanceOf(
      MissingTokenError,
    );
  });

  it('never turns demo mode on outside the local mode', () => {
    expect(() => loadConfig({ AUTH_MODE: 'gateway', DEMO_MODE: 'true' })).toThrow(
      /DEMO_MODE=true needs AUTH_MODE=local/,
    );
    expect(() => loadConfig({ AUTH_MODE: 'gateway', IS_OFFLINE: 'true' })).toThrow(
      /does not verify token signatures/,
    );
  });

  it('reads the claims of the sample event under sls invoke local, and verifies under sls offline', () => {
    expect(settings({ AUTH_MODE: 'local', IS_LOCAL: 'true' }).source).toBe('authorizer');
    expect(settings({ AUTH_MODE: 'local', IS_OFFLINE: 'true' }).source).toBe('token');
    expect(settings({ AUTH_MODE: 'local', IS_OFFLINE: 'true', IS_LOCAL: 'true' }).source).toBe(
      'token',
    );
    expect(settings({ AUTH_MODE: 'gateway' }).source).toBe('authorizer');
  });
});

describe('the challenge of a refused token', () => {
  it("is API Gateway's, with a description that cannot break out of its quotes", () => {
    expect(challengeOf(new InvalidTokenError('expired'))).toBe(
      'Bearer scope="" error="invalid_token" error_description="the token has expired"',
    );
    expect(challengeOf(new InvalidTokenError('malformed', 'a "quoted" \\ thing\n'))).toBe(
      `Bearer scope="" error="invalid_token" error_description="a 'quoted' ' thing'"`,
    );
    expect(challengeOf(new MissingTokenError())).toBe('Bearer');
  });
});
