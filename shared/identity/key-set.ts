import { readFileSync } from 'node:fs';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

/**
 * An issuer's public keys read from a JWKS document on disk, the way a verifier reads an issuer's
 * `jwks_uri`: the document is parsed once, and read again when a token names a key it does not
 * hold (a new key pair), at most once per `RELOAD_COOLDOWN_MS` so that a flood of unknown kids
 * does not become a flood of reads, as jose's remote key sets do for a URL.
 */

/** Fewest milliseconds between two reads of the file prompted by an unknown kid. */
export const RELOAD_COOLDOWN_MS = 1_000;

const EMPTY: JSONWebKeySet = { keys: [] };

const read = (path: string): JSONWebKeySet => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    // No key set yet: no token of this issuer can exist, so every one is refused (unknown kid).
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
    throw error;
  }
  const parsed = JSON.parse(text) as unknown;
  if (
    !parsed ||
    typeof parsed !== 'object' ||
    !Array.isArray((parsed as { keys?: unknown }).keys)
  ) {
    throw new Error(`${path} is not a JWKS document (expected {"keys": [...]})`);
  }
  return parsed as JSONWebKeySet;
};

/** The keys of the JWKS document at `path`, for `createTokenVerifier`. */
export const fileKeySet = (path: string, now: () => number = Date.now): JWTVerifyGetKey => {
  let loadedAt = Number.NEGATIVE_INFINITY;
  let keys: JWTVerifyGetKey | undefined;
  const load = (): JWTVerifyGetKey => {
    loadedAt = now();
    keys = createLocalJWKSet(read(path));
    return keys;
  };
  return async (header, token) => {
    const current = keys ?? load();
    try {
      return await current(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || now() - loadedAt < RELOAD_COOLDOWN_MS) {
        throw error;
      }
      return load()(header, token);
    }
  };
};
