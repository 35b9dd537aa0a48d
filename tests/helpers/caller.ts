import { projectIssuer } from './tokens.js';

/**
 * A token of the project's local issuer (`.local/identity`, which `sls offline` on the local
 * stage verifies against) for `userId`.
 */
export const tokenFor = async (userId: number): Promise<string> =>
  (await projectIssuer()).issue(userId);
