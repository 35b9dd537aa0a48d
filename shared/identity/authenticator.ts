import type { Logger } from '@aws-lambda-powertools/logger';
import type { JWTVerifyGetKey } from 'jose';
import {
  ForbiddenError,
  InsufficientScopeError,
  InvalidTokenError,
  MissingTokenError,
} from '../errors.js';
import type { UserDirectory } from '../models/index.js';
import { fileKeySet } from './key-set.js';
import type { IdentitySettings } from './settings.js';
import {
  checkTokenUse,
  createTokenVerifier,
  type TokenVerifier,
  userIdOfClaims,
} from './verifier.js';

/**
 * Who is calling: the one answer every handler needs before it does anything. A user known by a
 * verified token, or, in demo mode only, the demo's anonymous client on the demo's two routes.
 */
export type Caller = { readonly kind: 'user'; readonly userId: number } | { readonly kind: 'demo' };

/**
 * The parts of an HTTP API (payload 2.0) event that say who is calling: the `Authorization`
 * header, and the claims a JWT authorizer verified (`requestContext.authorizer.jwt.claims`).
 */
export interface CallerRequest {
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly requestContext?: object;
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The claims API Gateway's JWT authorizer put in the event, if any. */
const authorizerClaims = (
  request: CallerRequest,
): Readonly<Record<string, unknown>> | undefined => {
  const authorizer = (request.requestContext as { authorizer?: unknown } | undefined)?.authorizer;
  const jwt = isRecord(authorizer) ? authorizer.jwt : undefined;
  const claims = isRecord(jwt) ? jwt.claims : undefined;
  return isRecord(claims) ? claims : undefined;
};

/** What a route admits besides a valid token. */
export interface RoutePolicy {
  /** In demo mode, a request with no token at all is let in as the demo's client. */
  readonly demo: boolean;
}

/**
 * The token of an `Authorization` header, `undefined` when there is none. As API Gateway's
 * identity source, the header holds the token alone or prefixed with `Bearer `. A header that is
 * present but empty is a token (a malformed one), never "no token".
 */
export const bearerToken = (
  headers: Readonly<Record<string, string | undefined>> | undefined,
): string | undefined => {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() !== 'authorization' || value === undefined) continue;
    const trimmed = value.trim();
    const match = /^Bearer(?:\s+(.*))?$/i.exec(trimmed);
    return match ? (match[1] ?? '') : trimmed;
  }
  return undefined;
};

/** Who a verified token names, and until when. */
export interface TokenSession {
  readonly userId: number;
  /** The token's `exp`, epoch seconds. */
  readonly expiresAt: number;
}

/**
 * Whether a tokenless request comes from another site's page: its `Origin` (which browsers send
 * with every cross-origin request, and with every POST) names another host than the one asked
 * (`Host`), or is `null` (a sandboxed frame, a redirect from elsewhere). curl sends none.
 */
export const isForeignOrigin = (
  headers: Readonly<Record<string, string | undefined>> | undefined,
): boolean => {
  let origin: string | undefined;
  let host: string | undefined;
  for (const [name, value] of Object.entries(headers ?? {})) {
    const key = name.toLowerCase();
    if (key === 'origin') origin = value;
    else if (key === 'host') host = value;
  }
  if (origin === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() !== (host ?? '').toLowerCase();
  } catch {
    // `null`, or anything that is no origin.
    return true;
  }
};

export interface Authenticator {
  /**
   * The user a token names, verified and known to the directory, and when the token expires.
   * For callers that hold a token string: WebSocket `$connect` (token from a subprotocol).
   * @throws InvalidTokenError (401), InsufficientScopeError or ForbiddenError (403)
   */
  sessionOfToken(token: string): Promise<TokenSession>;
  /**
   * The caller of an HTTP request under `policy`.
   * @throws MissingTokenError, InvalidTokenError (401), InsufficientScopeError or ForbiddenError (403)
   */
  callerOf(request: CallerRequest, policy: RoutePolicy): Promise<Caller>;
}

export interface AuthenticatorDependencies {
  readonly users: UserDirectory;
  /** Where refusals are logged: why, and for whom when known; never the token. */
  readonly logger?: Logger;
  /** Verifies bearer tokens; by default the local issuer's keys in `settings.keySetFile`. */
  readonly verifier?: TokenVerifier;
}

/**
 * The verifier of `settings`: the configured issuer, audiences and scopes, with `keys` (by
 * default the JWKS on disk).
 */
export const verifierOf = (
  settings: IdentitySettings,
  keys: JWTVerifyGetKey = fileKeySet(settings.keySetFile),
): TokenVerifier =>
  createTokenVerifier({
    issuer: settings.issuer,
    audiences: settings.audiences,
    userIdClaim: settings.userIdClaim,
    requiredScopes: settings.requiredScopes,
    tokenUse: settings.tokenUse,
    keys,
  });

export const createAuthenticator = (
  settings: IdentitySettings,
  deps: AuthenticatorDependencies,
): Authenticator => {
  let verifier = deps.verifier;
  const known = (userId: number): number => {
    if (!deps.users.find(userId)) {
      throw new ForbiddenError(`The token's user (id ${userId}) is not a user of this service.`);
    }
    return userId;
  };
  /** Logs why a caller was refused (never the token), and passes the error on. */
  const refused = (error: unknown): never => {
    if (error instanceof InvalidTokenError) {
      deps.logger?.info('token refused', { problem: error.problem, reason: error.description });
    } else if (error instanceof InsufficientScopeError) {
      deps.logger?.info('token refused', { problem: 'scope', required: error.requiredScopes });
    } else if (error instanceof ForbiddenError || error instanceof MissingTokenError) {
      deps.logger?.info('caller refused', { code: error.code, reason: error.message });
    }
    throw error;
  };
  const verified = async (token: string): Promise<TokenSession> => {
    verifier ??= verifierOf(settings);
    const { userId, expiresAt } = await verifier.verify(token);
    return { userId: known(userId), expiresAt };
  };
  const sessionOfToken = (token: string): Promise<TokenSession> => verified(token).catch(refused);
  const callerOf = async (request: CallerRequest, policy: RoutePolicy): Promise<Caller> => {
    const token = bearerToken(request.headers);
    const demo = (): Caller => {
      if (!policy.demo || !settings.demo) throw new MissingTokenError();
      // A tokenless request is anybody's: one that another site's page made the browser send
      // (a cross-site form post) is refused, so that no page can act through the demo routes.
      if (isForeignOrigin(request.headers)) {
        throw new ForbiddenError(
          "A request without a token may not come from another site's page (its Origin is not this API's).",
        );
      }
      return { kind: 'demo' };
    };
    if (settings.source === 'token') {
      return token === undefined
        ? demo()
        : { kind: 'user', userId: (await verified(token)).userId };
    }
    // API Gateway's authorizer verified the token and put its claims here.
    const claims = authorizerClaims(request);
    if (!claims) {
      if (token === undefined) return demo();
      // A token without claims: the route has no authorizer. Refuse rather than trust it.
      throw new InvalidTokenError('malformed', 'the token was not verified by an authorizer');
    }
    // API Gateway's authorizer does not look at `token_use`: a Cognito ID token has the app
    // client as its `aud`, and would pass a route with no scopes.
    checkTokenUse(claims, settings.tokenUse);
    return { kind: 'user', userId: known(userIdOfClaims(claims, settings.userIdClaim)) };
  };
  return {
    sessionOfToken,
    callerOf: (request, policy) => callerOf(request, policy).catch(refused),
  };
};
