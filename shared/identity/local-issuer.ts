import { randomUUID } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  SignJWT,
} from 'jose';
import { LOCAL_ISSUER, LOCAL_ISSUER_FILES } from './constants.js';

export { LOCAL_ISSUER_FILES };

/**
 * The local issuer: what stands in for the Cognito user pool offline. It keeps one RSA key pair
 * under `.local/identity/` (never committed), publishes the public half as a JWKS document that
 * the verifier reads as it would read an issuer's `jwks_uri`, and signs tokens shaped like the
 * Cognito access tokens that the AWS stages accept, so that one set of rules judges both.
 */

export interface IssueOptions {
  /** Lifetime in seconds (default one hour, at most a day). */
  readonly ttlS?: number;
  /** Seconds from now before which the token is not valid (`nbf`); none by default. */
  readonly notBeforeS?: number;
  readonly now?: Date;
}

export interface LocalIssuer {
  readonly keyId: string;
  /** The public key set, as published in `jwks.json`. */
  readonly keySet: JSONWebKeySet;
  /** A signed access token for `userId`, whose `username` claim carries the id (as Cognito's). */
  issue(userId: number, options?: IssueOptions): Promise<string>;
}

const writeExclusive = (path: string, text: string, mode: number): boolean => {
  const temporary = `${path}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(temporary, text, { mode });
  try {
    // Atomic and exclusive: of processes creating the key at once, one wins and all read its key.
    linkSync(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
};

const createSigningKey = async (): Promise<JWK> => {
  const { privateKey } = await generateKeyPair(LOCAL_ISSUER.ALGORITHM, {
    modulusLength: LOCAL_ISSUER.MODULUS_BITS,
    extractable: true,
  });
  const jwk = await exportJWK(privateKey);
  return {
    ...jwk,
    kid: await calculateJwkThumbprint(jwk),
    alg: LOCAL_ISSUER.ALGORITHM,
    use: 'sig',
  };
};

const publicHalf = ({ kty, n, e, kid, alg, use }: JWK): JWK => ({ kty, n, e, kid, alg, use });

/**
 * The issuer whose key pair lives in `dir`, creating the pair on first use (safe when several
 * processes start at once). Rewrites `jwks.json` from the private key each time, atomically.
 */
export const ensureLocalIssuer = async (dir: string): Promise<LocalIssuer> => {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, LOCAL_ISSUER_FILES.signingKey);
  let jwk: JWK;
  try {
    jwk = JSON.parse(readFileSync(keyPath, 'utf8')) as JWK;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const created = await createSigningKey();
    writeExclusive(keyPath, JSON.stringify(created), 0o600);
    jwk = JSON.parse(readFileSync(keyPath, 'utf8')) as JWK;
  }
  if (typeof jwk.kid !== 'string' || jwk.kty !== 'RSA' || !jwk.d) {
    throw new Error(`${keyPath} is not an RSA private key with a kid; delete it to make a new one`);
  }
  const keySet: JSONWebKeySet = { keys: [publicHalf(jwk)] };
  const setPath = join(dir, LOCAL_ISSUER_FILES.keySet);
  const temporary = `${setPath}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(keySet, null, 2)}\n`);
  renameSync(temporary, setPath);
  const privateKey = await importJWK(jwk, LOCAL_ISSUER.ALGORITHM);
  const keyId = jwk.kid;
  return {
    keyId,
    keySet,
    async issue(userId, { ttlS = LOCAL_ISSUER.DEFAULT_TTL_S, notBeforeS, now = new Date() } = {}) {
      if (!Number.isSafeInteger(userId) || userId <= 0) {
        throw new RangeError(`a user id is a positive whole number; received ${userId}`);
      }
      if (!Number.isInteger(ttlS) || ttlS < 1 || ttlS > LOCAL_ISSUER.MAX_TTL_S) {
        throw new RangeError(
          `ttl must be 1 to ${LOCAL_ISSUER.MAX_TTL_S} seconds; received ${ttlS}`,
        );
      }
      const iat = Math.floor(now.getTime() / 1000);
      const token = new SignJWT({
        client_id: LOCAL_ISSUER.CLIENT_ID,
        token_use: 'access',
        scope: LOCAL_ISSUER.SCOPE,
        auth_time: iat,
        username: String(userId),
      })
        .setProtectedHeader({ alg: LOCAL_ISSUER.ALGORITHM, kid: keyId })
        .setIssuer(LOCAL_ISSUER.ISSUER)
        .setSubject(localSubject(userId))
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlS)
        .setJti(randomUUID());
      if (notBeforeS !== undefined) token.setNotBefore(iat + notBeforeS);
      return token.sign(privateKey);
    },
  };
};

/** A stable UUID-shaped `sub` per user, as Cognito gives each user one. */
export const localSubject = (userId: number): string =>
  `00000000-0000-4000-8000-${userId.toString(16).padStart(12, '0')}`;
