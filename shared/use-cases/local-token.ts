import { UserNotFoundError } from '../errors.js';
import { LOCAL_ISSUER } from '../identity/constants.js';
import type { LocalIssuer } from '../identity/local-issuer.js';
import type { UserDirectory } from '../models/index.js';

export interface LocalTokenDependencies {
  readonly issuer: () => Promise<Pick<LocalIssuer, 'issue'>>;
  readonly users: UserDirectory;
}

/** Lifetime of a token the page gets, in seconds (the local issuer's default). */
export const PAGE_TOKEN_TTL_S = LOCAL_ISSUER.DEFAULT_TTL_S;

/**
 * A token of the local issuer for a user of the directory: what the page signs in with on the
 * local stage, as `npm run token` prints one. The route exists on the local stage only.
 * @throws UserNotFoundError (404) for an id that is not in the directory
 */
export const issueLocalToken = async (
  userId: number,
  deps: LocalTokenDependencies,
): Promise<{ token: string; tokenType: 'Bearer'; expiresIn: number }> => {
  if (!deps.users.find(userId)) throw new UserNotFoundError('userId', userId);
  const issuer = await deps.issuer();
  return {
    token: await issuer.issue(userId, { ttlS: PAGE_TOKEN_TTL_S }),
    tokenType: 'Bearer',
    expiresIn: PAGE_TOKEN_TTL_S,
  };
};
