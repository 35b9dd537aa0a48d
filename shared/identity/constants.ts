/**
 * The local issuer's constants, apart from its code so that the configuration can default to them
 * without loading the signing side (shared/identity/local-issuer.ts).
 */
export const LOCAL_ISSUER = {
  /** `iss` of every local token (`.invalid`: a name that can never resolve to a real issuer). */
  ISSUER: 'https://issuer.kafka-notifications.invalid/local',
  /** `client_id` of every local token: the audience the local stage accepts. */
  CLIENT_ID: 'kafka-notifications-local',
  /** The scope Cognito gives the access tokens of its sign-in API; the routes require it. */
  SCOPE: 'aws.cognito.signin.user.admin',
  ALGORITHM: 'RS256',
  /** Key size of the local key pair, in bits. */
  MODULUS_BITS: 2048,
  DEFAULT_TTL_S: 3_600,
  /** Cognito's longest access token lifetime (one day). */
  MAX_TTL_S: 86_400,
} as const;

/** The local issuer's folder, relative to the project root (`.local/` is never committed). */
export const LOCAL_ISSUER_DIR = '.local/identity';

/** File names under the issuer's folder. */
export const LOCAL_ISSUER_FILES = {
  /** The private key (JWK, with its kid), readable by its owner only. */
  signingKey: 'signing-key.json',
  /** The public key set (JWKS): what verifiers read. */
  keySet: 'jwks.json',
} as const;
