import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InsufficientScopeError,
  InvalidTokenError,
  TOKEN_PROBLEMS,
  type TokenProblem,
} from '../../shared/errors.js';
import { LOCAL_ISSUER } from '../../shared/identity/constants.js';
import { fileKeySet, RELOAD_COOLDOWN_MS } from '../../shared/identity/key-set.js';
import {
  ensureLocalIssuer,
  LOCAL_ISSUER_FILES,
  type LocalIssuer,
} from '../../shared/identity/local-issuer.js';
import { createTokenVerifier, type TokenVerifier } from '../../shared/identity/verifier.js';
import { forgerKey, goodClaims, issuerKey, nowS, sign, unsecured } from '../helpers/tokens.js';

/**
 * The verifier judges every token as API Gateway's JWT authorizer would: a token that differs
 * from a good one in one way is refused, and the refusal says which way.
 */

const dir = mkdtempSync(join(tmpdir(), 'identity-verifier-'));
let issuer: LocalIssuer;
let key: Awaited<ReturnType<typeof issuerKey>>;
let verifier: TokenVerifier;

const options = (overrides: Partial<Parameters<typeof createTokenVerifier>[0]> = {}) => ({
  issuer: LOCAL_ISSUER.ISSUER,
  audiences: [LOCAL_ISSUER.CLIENT_ID],
  userIdClaim: 'username',
  requiredScopes: [LOCAL_ISSUER.SCOPE],
  tokenUse: 'access',
  keys: fileKeySet(join(dir, LOCAL_ISSUER_FILES.keySet)),
  ...overrides,
});

/** A token of the issuer's key with the good claims for user 2, changed by `change`. */
const withClaims = (change: (claims: JWTPayload) => JWTPayload) =>
  sign(change(goodClaims(2, nowS())), key.privateKey, { kid: key.kid });

const refusal = async (token: string, v: TokenVerifier = verifier): Promise<InvalidTokenError> => {
  const error = await v.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidTokenError);
  const invalid = error as InvalidTokenError;
  // It goes into a quoted WWW-Authenticate parameter: printable, no quote, no backslash.
  expect(invalid.description).toMatch(/^[\x20-\x7e]+$/);
  expect(invalid.description).not.toMatch(/["\\]/);
  // Nothing of the token itself ever appears in what a client or a log is told.
  for (const part of token.split('.').filter((p) => p.length > 3)) {
    expect(invalid.message).not.toContain(part);
  }
  return invalid;
};

beforeAll(async () => {
  issuer = await ensureLocalIssuer(dir);
  key = await issuerKey(issuer, dir);
  verifier = createTokenVerifier(options());
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the token verifier', () => {
  it("accepts the local issuer's token and names its user", async () => {
    const token = await issuer.issue(3);
    expect(await verifier.verify(token)).toEqual({
      userId: 3,
      expiresAt: expect.any(Number),
      scopes: [LOCAL_ISSUER.SCOPE],
      tokenId: expect.any(String),
    });
  });

  it('refuses a token that is not an access token: token_use id (a Cognito ID token), or none', async () => {
    const idToken = await withClaims((c) => ({ ...c, token_use: 'id' }));
    expect((await refusal(idToken)).problem).toBe('token_use');
    const none = await withClaims(({ token_use: _u, ...c }) => c);
    expect((await refusal(none)).problem).toBe('token_use');
    // An issuer that does not set the claim: the check is off when no token_use is required.
    const lenient = createTokenVerifier(options({ tokenUse: undefined }));
    expect((await lenient.verify(none)).userId).toBe(2);
  });

  const cases: [string, () => Promise<string>, TokenProblem][] = [
    [
      'forged: signed by another key under the issuer kid',
      async () => sign(goodClaims(2, nowS()), (await forgerKey()).privateKey, { kid: key.kid }),
      'signature',
    ],
    [
      'forged: signed by another key under its own kid',
      async () => {
        const forger = await forgerKey();
        return sign(goodClaims(2, nowS()), forger.privateKey, { kid: forger.kid });
      },
      'key',
    ],
    ['forged: no kid header', () => sign(goodClaims(2, nowS()), key.privateKey), 'key'],
    [
      'expired',
      () => withClaims((c) => ({ ...c, iat: nowS() - 7_200, exp: nowS() - 60 })),
      'expired',
    ],
    ['expiring this very second', () => withClaims((c) => ({ ...c, exp: nowS() })), 'expired'],
    [
      'not yet valid (nbf ahead)',
      () => withClaims((c) => ({ ...c, nbf: nowS() + 300 })),
      'not_yet_valid',
    ],
    [
      'issued in the future (iat ahead)',
      () => withClaims((c) => ({ ...c, iat: nowS() + 300 })),
      'issued_in_future',
    ],
    ['without exp', () => withClaims(({ exp: _exp, ...c }) => c), 'malformed'],
    [
      'for another audience (aud)',
      () => withClaims((c) => ({ ...c, aud: 'someone-else' })),
      'audience',
    ],
    [
      'for another audience (aud list)',
      () => withClaims((c) => ({ ...c, aud: ['a', 'b'] })),
      'audience',
    ],
    [
      'for another client (client_id, no aud)',
      () => withClaims((c) => ({ ...c, client_id: 'another-app' })),
      'audience',
    ],
    [
      'with aud naming another audience even though client_id is ours (aud decides)',
      () => withClaims((c) => ({ ...c, aud: 'someone-else' })),
      'audience',
    ],
    [
      'with neither aud nor client_id',
      () => withClaims(({ client_id: _c, ...c }) => c),
      'audience',
    ],
    [
      'from another issuer',
      () => withClaims((c) => ({ ...c, iss: 'https://evil.example.com' })),
      'issuer',
    ],
    ['with no issuer', () => withClaims(({ iss: _i, ...c }) => c), 'issuer'],
    ['alg none', async () => unsecured(goodClaims(2, nowS()), { kid: key.kid }), 'algorithm'],
    [
      'an alg crafted to break out of the challenge header',
      async () => unsecured(goodClaims(2, nowS()), { alg: 'RS256", error="none', kid: key.kid }),
      'algorithm',
    ],
    [
      'HS256 keyed with the public key (algorithm confusion)',
      async () => {
        const secret = new TextEncoder().encode(JSON.stringify(issuer.keySet.keys[0]));
        return sign(goodClaims(2, nowS()), secret as never, { alg: 'HS256', kid: key.kid });
      },
      'algorithm',
    ],
    ['malformed: not a JWT', async () => 'not-a-token', 'malformed'],
    ['malformed: empty', async () => '', 'malformed'],
    ['malformed: three parts of garbage', async () => 'a.b.c', 'malformed'],
    [
      'malformed: a payload that is not JSON',
      async () => {
        const [header, , signature] = (await issuer.issue(2)).split('.');
        return `${header}.bm90IGpzb24.${signature}`;
      },
      'signature',
    ],
    [
      'tampered: the payload changed to another user',
      async () => {
        const [header, , signature] = (await issuer.issue(2)).split('.');
        const payload = Buffer.from(JSON.stringify(goodClaims(1, nowS()))).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
      'signature',
    ],
    ['without a username', () => withClaims(({ username: _u, ...c }) => c), 'user'],
    [
      'with a username that is not an id',
      () => withClaims((c) => ({ ...c, username: 'emma' })),
      'user',
    ],
    ['with user id 0', () => withClaims((c) => ({ ...c, username: '0' })), 'user'],
    // Another username than "1" (an issuer whose users pick their names, Cognito's "01"): never
    // read as user 1.
    ['with a zero-padded user id', () => withClaims((c) => ({ ...c, username: '01' })), 'user'],
    ['with a fractional user id', () => withClaims((c) => ({ ...c, username: 1.5 })), 'user'],
  ];

  it.each(cases)('refuses a token %s', async (_name, make, problem) => {
    const error = await refusal(await make());
    expect(error.problem).toBe(problem);
    expect(error.status).toBe(401);
    expect(error.code).toBe('invalid_token');
  });

  it('words each problem as API Gateway words its audience refusal', () => {
    expect(TOKEN_PROBLEMS.audience).toBe('the token does not have a valid audience');
    for (const description of Object.values(TOKEN_PROBLEMS)) {
      expect(description).toMatch(/^[a-z][^"\\]*[a-zA-Z]$/);
    }
  });

  it('accepts aud when it names one of the audiences, whatever client_id says', async () => {
    const token = await withClaims((c) => ({
      ...c,
      aud: ['x', LOCAL_ISSUER.CLIENT_ID],
      client_id: 'x',
    }));
    expect((await verifier.verify(token)).userId).toBe(2);
  });

  it('accepts a numeric user id claim and scopes in scp', async () => {
    const token = await withClaims(({ scope: _s, ...c }) => ({
      ...c,
      username: 4,
      scp: ['other', LOCAL_ISSUER.SCOPE],
    }));
    expect(await verifier.verify(token)).toMatchObject({ userId: 4 });
  });

  it('refuses with 403 a token that has none of the required scopes', async () => {
    const token = await withClaims((c) => ({ ...c, scope: 'openid email' }));
    const error = await verifier.verify(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientScopeError);
    expect(error).toMatchObject({ status: 403, requiredScopes: [LOCAL_ISSUER.SCOPE] });
  });

  it('needs no scope when the route requires none', async () => {
    const open = createTokenVerifier(options({ requiredScopes: [] }));
    const token = await withClaims(({ scope: _s, ...c }) => c);
    expect((await open.verify(token)).userId).toBe(2);
  });

  it('reads another claim as the user id when told to', async () => {
    const bySub = createTokenVerifier(options({ userIdClaim: 'custom:user_id' }));
    const token = await withClaims((c) => ({ ...c, 'custom:user_id': '3' }));
    expect((await bySub.verify(token)).userId).toBe(3);
  });

  it('judges time by its clock', async () => {
    const token = await issuer.issue(1, { ttlS: 60 });
    const later = createTokenVerifier(options({ now: () => new Date(Date.now() + 61_000) }));
    expect((await refusal(token, later)).problem).toBe('expired');
    const notBefore = await issuer.issue(1, { notBeforeS: 30 });
    expect((await refusal(notBefore)).problem).toBe('not_yet_valid');
    const soon = createTokenVerifier(options({ now: () => new Date(Date.now() + 31_000) }));
    expect((await soon.verify(notBefore)).userId).toBe(1);
  });
});

describe('the key set read from a JWKS file', () => {
  it('refuses every token while the file does not exist, and finds keys once it does', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'identity-keys-'));
    let clock = 0;
    try {
      const keySetFile = join(empty, LOCAL_ISSUER_FILES.keySet);
      const v = createTokenVerifier(options({ keys: fileKeySet(keySetFile, () => clock) }));
      const token = await issuer.issue(1);
      expect((await refusal(token, v)).problem).toBe('key');
      writeFileSync(keySetFile, JSON.stringify(issuer.keySet));
      // Read again only after the cooldown: unknown kids do not each cost a read.
      expect((await refusal(token, v)).problem).toBe('key');
      clock += RELOAD_COOLDOWN_MS;
      expect((await v.verify(token)).userId).toBe(1);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("picks up the issuer's new key pair when a token names it", async () => {
    const other = mkdtempSync(join(tmpdir(), 'identity-rotate-'));
    let clock = 0;
    try {
      const first = await ensureLocalIssuer(other);
      const v = createTokenVerifier(
        options({ keys: fileKeySet(join(other, LOCAL_ISSUER_FILES.keySet), () => clock) }),
      );
      expect((await v.verify(await first.issue(1))).userId).toBe(1);
      rmSync(join(other, LOCAL_ISSUER_FILES.signingKey));
      const second = await ensureLocalIssuer(other);
      expect(second.keyId).not.toBe(first.keyId);
      clock += RELOAD_COOLDOWN_MS;
      expect((await v.verify(await second.issue(2))).userId).toBe(2);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
