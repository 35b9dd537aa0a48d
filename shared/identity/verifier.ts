import {
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  type ProtectedHeaderParameters,
} from 'jose';
import { InsufficientScopeError, InvalidTokenError } from '../errors.js';

/**
 * Verifies a bearer token as API Gateway's HTTP API JWT authorizer does (API Gateway developer
 * guide, `http-api-jwt-authorizer`: "Authorizing API requests"), so that offline is never weaker
 * than AWS:
 *
 * - an RSA signature (API Gateway supports only RSA-based algorithms), by the issuer's key whose
 *   `kid` the header names;
 * - `iss` equal to the issuer;
 * - `aud` naming one of the audiences, or, when the token has no `aud`, `client_id` doing so
 *   (Cognito access tokens carry `client_id` only);
 * - `exp` after now, `nbf` and `iat` (when present) not after now;
 * - at least one of the route's scopes in `scope` (space-separated) or `scp`, when it has some.
 *
 * Stricter than API Gateway in two places: `exp` is required, so no token lives forever; and
 * `token_use` must be `access` (when `tokenUse` says so): a Cognito ID token (`token_use: id`,
 * its `aud` the app client, signed by another key of the same pool's JWKS) would otherwise pass
 * an authorizer with no scopes (Amazon Cognito developer guide, "Understanding the access token",
 * https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html:
 * `token_use` is `access` in access tokens; validate ID and access tokens separately).
 */

/** The algorithms accepted: RSA signatures, as API Gateway's JWT authorizer. */
export const TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512'] as const;

export interface VerifierOptions {
  /** The `iss` every token must carry. */
  readonly issuer: string;
  /** The `aud` (or `client_id`) values accepted. */
  readonly audiences: readonly string[];
  /** The claim that carries the user's id, such as Cognito's `username`. */
  readonly userIdClaim: string;
  /** A token must carry one of these; none needed when empty. */
  readonly requiredScopes: readonly string[];
  /** The `token_use` every token must carry; not checked when `undefined`. */
  readonly tokenUse?: string | undefined;
  /** The issuer's keys (a JWKS). */
  readonly keys: JWTVerifyGetKey;
  /** The clock, for tests. */
  readonly now?: () => Date;
}

/** What a verified token says about its bearer. */
export interface VerifiedToken {
  readonly userId: number;
  /** When the token expires, epoch seconds (`exp`, which every token must carry). */
  readonly expiresAt: number;
  readonly scopes: readonly string[];
  /** The token's id (`jti`), when it has one: it may be logged, the token never. */
  readonly tokenId: string | undefined;
}

export interface TokenVerifier {
  /**
   * Resolves with the bearer's user id, or rejects with `InvalidTokenError` (401, its `problem`
   * says why) or `InsufficientScopeError` (403).
   */
  verify(token: string): Promise<VerifiedToken>;
}

const ALLOWED: ReadonlySet<string> = new Set(TOKEN_ALGORITHMS);
/**
 * A user id's digits, written one way only: "01" is another username than "1" (Cognito keeps
 * both, and an issuer whose users pick their names would let one pick it), so it is no user id.
 */
const USER_ID = /^[1-9]\d{0,14}$/;

/** A user id as a claim carries it: a positive integer, or its canonical digits as a string. */
export const userIdFromClaim = (value: unknown): number | undefined => {
  const id =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && USER_ID.test(value)
        ? Number(value)
        : NaN;
  return Number.isSafeInteger(id) && id > 0 ? id : undefined;
};

/** The user id in the claim `claimName` of `claims`; a token without one is refused. */
export const userIdOfClaims = (
  claims: Readonly<Record<string, unknown>>,
  claimName: string,
): number => {
  const userId = userIdFromClaim(claims[claimName]);
  if (userId === undefined) {
    throw new InvalidTokenError(
      'user',
      `the token's ${claimName} claim is not a user id (a positive whole number)`,
    );
  }
  return userId;
};

/**
 * Refuses claims whose `token_use` is not `expected` (when one is expected).
 * @throws InvalidTokenError
 */
export const checkTokenUse = (
  claims: Readonly<Record<string, unknown>>,
  expected: string | undefined,
): void => {
  if (expected !== undefined && claims.token_use !== expected) {
    throw new InvalidTokenError('token_use');
  }
};

/** The scopes of `scope` (a space-separated string) or `scp` (a list or a string). */
export const scopesOf = (claims: Readonly<Record<string, unknown>>): string[] => {
  const raw = claims.scope ?? claims.scp;
  const list = typeof raw === 'string' ? raw.split(' ') : Array.isArray(raw) ? raw : [];
  return list.filter((s): s is string => typeof s === 'string' && s !== '');
};

const readHeader = (token: string): ProtectedHeaderParameters => {
  try {
    return decodeProtectedHeader(token);
  } catch (error) {
    throw new InvalidTokenError('malformed', undefined, { cause: error });
  }
};

/** Turns jose's refusals into our problems; anything else is not about the token and is rethrown. */
const problemOf = (error: unknown): InvalidTokenError => {
  if (error instanceof errors.JWTExpired) {
    return new InvalidTokenError('expired', undefined, { cause: error });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf')
      return new InvalidTokenError('not_yet_valid', undefined, { cause: error });
    if (error.claim === 'iss') return new InvalidTokenError('issuer', undefined, { cause: error });
    if (error.reason === 'missing') {
      return new InvalidTokenError('malformed', `the token has no ${error.claim} claim`, {
        cause: error,
      });
    }
    return new InvalidTokenError('malformed', `the token's ${error.claim} claim is not valid`, {
      cause: error,
    });
  }
  if (
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return new InvalidTokenError('key', undefined, { cause: error });
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new InvalidTokenError('signature', undefined, { cause: error });
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new InvalidTokenError('algorithm', undefined, { cause: error });
  }
  if (
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWTInvalid ||
    error instanceof errors.JOSENotSupported
  ) {
    return new InvalidTokenError('malformed', undefined, { cause: error });
  }
  throw error;
};

const audienceMatches = (claims: JWTPayload, audiences: readonly string[]): boolean => {
  if (claims.aud !== undefined) {
    const given = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    return given.some((a) => audiences.includes(a));
  }
  const clientId = claims.client_id;
  return typeof clientId === 'string' && audiences.includes(clientId);
};

/** A verifier for one issuer: a domain module, called by HTTP handlers and WebSocket `$connect` alike. */
export const createTokenVerifier = (options: VerifierOptions): TokenVerifier => {
  const now = options.now ?? (() => new Date());
  const expected = `expected one of ${TOKEN_ALGORITHMS.join(', ')}`;
  return {
    async verify(token) {
      const header = readHeader(token);
      if (typeof header.alg !== 'string' || !ALLOWED.has(header.alg)) {
        // Named, never echoed: the header is the client's, and the description goes into one.
        throw new InvalidTokenError('algorithm', `the token's alg is not allowed; ${expected}`);
      }
      // API Gateway needs the header's kid to pick the issuer's key; so do we.
      if (typeof header.kid !== 'string' || header.kid === '') {
        throw new InvalidTokenError('key', 'the token has no kid header');
      }
      const currentDate = now();
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(token, options.keys, {
          algorithms: [...TOKEN_ALGORITHMS],
          issuer: options.issuer,
          requiredClaims: ['exp'],
          currentDate,
        }));
      } catch (error) {
        throw problemOf(error);
      }
      // jose checks `iat` only against a maximum age; API Gateway wants it in the past.
      if (claims.iat !== undefined && claims.iat > Math.floor(currentDate.getTime() / 1000)) {
        throw new InvalidTokenError('issued_in_future');
      }
      if (!audienceMatches(claims, options.audiences)) throw new InvalidTokenError('audience');
      checkTokenUse(claims, options.tokenUse);
      const scopes = scopesOf(claims);
      if (
        options.requiredScopes.length > 0 &&
        !scopes.some((s) => options.requiredScopes.includes(s))
      ) {
        throw new InsufficientScopeError(options.requiredScopes);
      }
      const userId = userIdOfClaims(claims, options.userIdClaim);
      return {
        userId,
        // Required above: jose refuses a token without `exp`.
        expiresAt: claims.exp ?? 0,
        scopes,
        tokenId: typeof claims.jti === 'string' ? claims.jti : undefined,
      };
    },
  };
};
