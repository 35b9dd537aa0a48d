import { resolve } from 'node:path';
import { LOCAL_ISSUER, LOCAL_ISSUER_DIR, LOCAL_ISSUER_FILES } from './constants.js';

/** How a request's caller is known (shared/identity/authenticator.ts). */
export interface IdentitySettings {
  readonly mode: 'gateway' | 'local';
  /**
   * Where the caller is read from: `authorizer`, the verified claims API Gateway puts in
   * `requestContext.authorizer.jwt` (on AWS, and under `sls invoke local`, whose sample events
   * carry them as API Gateway would); `token`, the `Authorization` header, verified here
   * (serverless-offline, which passes on claims it never verified).
   */
  readonly source: 'authorizer' | 'token';
  readonly userIdClaim: string;
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly requiredScopes: readonly string[];
  /**
   * The `token_use` a token must carry (`access`: Cognito's ID tokens, `token_use: id`, are no
   * access tokens); `undefined` for an issuer that does not set the claim.
   */
  readonly tokenUse: string | undefined;
  /** Absolute path of the local issuer's JWKS document. */
  readonly keySetFile: string;
  /** The issuer's JWKS URL, where a function verifies tokens itself on AWS (WebSocket `$connect`). */
  readonly keySetUrl: string | undefined;
  /** Tokenless requests on the demo's two routes are let in (never on AWS stages). */
  readonly demo: boolean;
}

/**
 * The identity variables as shared/config.ts read and validated them (`AUTH_*`, `DEMO_MODE`, and
 * where the function runs); `undefined` where a variable is unset.
 */
export interface IdentityVariables {
  readonly mode: IdentitySettings['mode'];
  readonly userIdClaim: string;
  readonly issuer: string | undefined;
  readonly audiences: readonly string[] | undefined;
  readonly requiredScopes: readonly string[] | undefined;
  /** `any` turns the check off. */
  readonly tokenUse: 'access' | 'any';
  readonly keySetFile: string | undefined;
  readonly keySetUrl: string | undefined;
  readonly demo: boolean;
  /** Under `sls invoke local` (`IS_LOCAL`). */
  readonly invokeLocal: boolean;
  /** Under serverless-offline (`IS_OFFLINE`). */
  readonly offline: boolean;
}

/**
 * The settings the variables mean: where the caller is read from, and the local issuer's issuer,
 * audience and key set where none is given.
 */
export const identitySettings = (variables: IdentityVariables): IdentitySettings => ({
  mode: variables.mode,
  source:
    variables.mode === 'gateway' || (variables.invokeLocal && !variables.offline)
      ? 'authorizer'
      : 'token',
  userIdClaim: variables.userIdClaim,
  issuer: variables.issuer ?? LOCAL_ISSUER.ISSUER,
  audiences: variables.audiences ?? [LOCAL_ISSUER.CLIENT_ID],
  requiredScopes: variables.requiredScopes ?? [],
  tokenUse: variables.tokenUse === 'any' ? undefined : variables.tokenUse,
  keySetFile: resolve(variables.keySetFile ?? `${LOCAL_ISSUER_DIR}/${LOCAL_ISSUER_FILES.keySet}`),
  keySetUrl: variables.keySetUrl,
  demo: variables.demo,
});
