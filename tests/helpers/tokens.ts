import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { LOCAL_ISSUER } from '../../shared/identity/constants.js';
import {
  ensureLocalIssuer,
  LOCAL_ISSUER_FILES,
  type LocalIssuer,
  localSubject,
} from '../../shared/identity/local-issuer.js';

/**
 * Tokens good and bad, for the verifier's unit tests and the end-to-end tests: each bad one
 * differs from a good one of the local issuer in exactly one way.
 */

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** A key pair that is not the issuer's: what a forger holds. */
export const forgerKey = async (): Promise<{ privateKey: SigningKey; kid: string }> => {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { privateKey, kid: await calculateJwkThumbprint(await exportJWK(publicKey)) };
};

/** The claims of a good local token for `userId`, at `nowS` (seconds). */
export const goodClaims = (userId: number, nowS: number): JWTPayload => ({
  iss: LOCAL_ISSUER.ISSUER,
  sub: localSubject(userId),
  client_id: LOCAL_ISSUER.CLIENT_ID,
  token_use: 'access',
  scope: LOCAL_ISSUER.SCOPE,
  username: String(userId),
  iat: nowS,
  exp: nowS + 3_600,
  jti: randomUUID(),
});

/** Signs `claims` with `key` (RS256 unless `alg` says otherwise), the header naming `kid`. */
export const sign = (
  claims: JWTPayload,
  key: SigningKey,
  header: { kid?: string; alg?: string } = {},
): Promise<string> =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: header.alg ?? 'RS256', ...(header.kid ? { kid: header.kid } : {}) })
    .sign(key);

/** An unsecured JWT (`alg: none`, empty signature), as RFC 7519 section 6 defines it. */
export const unsecured = (claims: JWTPayload, header: Record<string, unknown> = {}): string =>
  `${base64url.encode(JSON.stringify({ alg: 'none', ...header }))}.${base64url.encode(JSON.stringify(claims))}.`;

/** The private key of an issuer's folder, to sign tokens with claims of our choosing. */
export const issuerKey = async (issuer: LocalIssuer, dir: string) => {
  const jwk = JSON.parse(readFileSync(join(dir, LOCAL_ISSUER_FILES.signingKey), 'utf8')) as JWK;
  return { privateKey: (await importJWK(jwk, 'RS256')) as SigningKey, kid: issuer.keyId };
};

let issuerDir: string | undefined;

/**
 * The folder of the local issuer that this process's tests and benchmarks use: the project's
 * kind of issuer, as `npm start` makes it, but never the developer's `.local/identity`. Made on
 * first use, removed when the process exits; `sls offline start` (tests/helpers/offline.ts) is
 * told to read its keys (`AUTH_JWKS_FILE`).
 */
export const testIssuerPath = (): string => {
  if (!issuerDir) {
    const dir = mkdtempSync(join(tmpdir(), 'notifications-identity-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    issuerDir = dir;
  }
  return issuerDir;
};

/** The public keys (JWKS) of `testIssuer()`, where the functions read them (`AUTH_JWKS_FILE`). */
export const testKeySetFile = (): string => join(testIssuerPath(), LOCAL_ISSUER_FILES.keySet);

let issuer: Promise<LocalIssuer> | undefined;

/** This process's local issuer (`testIssuerPath()`): made or read once per process. */
export const testIssuer = (): Promise<LocalIssuer> =>
  (issuer ??= ensureLocalIssuer(testIssuerPath()).catch((error: unknown) => {
    issuer = undefined;
    throw error;
  }));

export const nowS = (): number => Math.floor(Date.now() / 1000);
