/**
 * `npm run token -- <userId> [--ttl 1h]`: prints a token of the local issuer for a user of the
 * directory, to send as `Authorization: Bearer <token>` to `npm start`'s API. Makes the issuer's
 * key pair under `.local/identity/` on first use. Only the token goes to stdout, so that
 * `$(npm run -s token -- 1)` works in a shell.
 */
import { config } from '../shared/config.js';
import { LOCAL_ISSUER } from '../shared/identity/constants.js';
import { ensureLocalIssuer } from '../shared/identity/local-issuer.js';
import { UserDirectory } from '../shared/models/index.js';
import { parseDurationS } from './lib/duration.js';
import { LOCAL_ISSUER_PATH } from './lib/paths.js';

const USAGE = 'usage: npm run token -- <userId> [--ttl <n>s|m|h|d] (default 1h, at most 1d)';

const parseTtl = (text: string): number => parseDurationS('--ttl', text, LOCAL_ISSUER.MAX_TTL_S);

const main = async (args: readonly string[]): Promise<void> => {
  let ttlS: number = LOCAL_ISSUER.DEFAULT_TTL_S;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--ttl') ttlS = parseTtl(args[++i] ?? '');
    else if (arg.startsWith('--ttl=')) ttlS = parseTtl(arg.slice('--ttl='.length));
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return;
    } else positional.push(arg);
  }
  const [idText, ...extra] = positional;
  if (!idText || extra.length > 0) throw new Error(USAGE);
  const users = config().users;
  const userId = /^\d{1,15}$/.test(idText) ? Number(idText) : NaN;
  if (!new UserDirectory(users).find(userId)) {
    const known = users.map((u) => `${u.id} (${u.name})`).join(', ');
    throw new Error(`no user has id "${idText}"; the directory has ${known}`);
  }
  const issuer = await ensureLocalIssuer(LOCAL_ISSUER_PATH);
  process.stdout.write(`${await issuer.issue(userId, { ttlS })}\n`);
};

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`[token] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
