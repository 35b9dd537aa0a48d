import { loadConfig } from '../../shared/config.js';
import { type Authenticator, createAuthenticator } from '../../shared/identity/authenticator.js';
import { DEFAULT_USERS, UserDirectory } from '../../shared/models/index.js';

/**
 * Authenticators as the functions build them. `onAws`: the claims API Gateway verified
 * (`AUTH_MODE=gateway`). `invokeLocal`: the local stage under `sls invoke local`, claims from the
 * event as on AWS, and demo mode on.
 */
const users = new UserDirectory(DEFAULT_USERS);

export const onAws = (): Authenticator =>
  createAuthenticator(loadConfig({ AUTH_MODE: 'gateway' }).identity, { users });

export const invokeLocal = (): Authenticator =>
  createAuthenticator(
    loadConfig({ AUTH_MODE: 'local', DEMO_MODE: 'true', IS_LOCAL: 'true' }).identity,
    { users },
  );

/** The user whose claims the sample events of `events/` carry (Bruno), where not said otherwise. */
export const SAMPLE_CALLER_ID = 2;
