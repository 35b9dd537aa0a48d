import type { Logger } from '@aws-lambda-powertools/logger';
import { createRemoteJWKSet } from 'jose';
import { type Authenticator, createAuthenticator, verifierOf } from '../identity/authenticator.js';
import type { IdentitySettings } from '../identity/settings.js';
import type { UserDirectory } from '../models/index.js';

/**
 * Who opens a WebSocket connection. API Gateway has no JWT authorizer for WebSocket APIs (only
 * Lambda and IAM authorizers), so `$connect` verifies the token itself, with the same verifier
 * and rules as the HTTP routes (shared/identity): offline against the local issuer's keys, on
 * AWS against the issuer's JWKS URL (`AUTH_JWKS_URL`, fetched and cached by jose, refetched for
 * an unknown kid at most every 30 s).
 */
export const connectAuthenticator = (
  settings: IdentitySettings,
  deps: { readonly users: UserDirectory; readonly logger: Logger },
): Authenticator =>
  createAuthenticator(settings, {
    ...deps,
    ...(settings.keySetUrl
      ? {
          verifier: verifierOf(settings, createRemoteJWKSet(new URL(settings.keySetUrl))),
        }
      : {}),
  });
