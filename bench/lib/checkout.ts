import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './results.js';

/**
 * `--against <ref>`: the commit, extracted (git archive) once into the system's temporary folder,
 * outside the project: a copy inside it (with its `node_modules` link) is walked by every later
 * `sls offline start` of this project, which then took seconds longer to answer.
 */
export const checkoutOf = (ref: string): { sha: string; root: string } => {
  const git = (args: string[]) =>
    spawnSync('git', args, { cwd: ROOT, encoding: 'buffer', maxBuffer: 1 << 30 });
  const rev = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  if (rev.status !== 0) throw new Error(`--against ${ref}: not a commit (${rev.stderr})`);
  const sha = rev.stdout.toString().trim();
  const root = join(tmpdir(), 'kafka-notifications-against', sha);
  if (!existsSync(join(root, 'serverless.yml'))) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const tar = git(['archive', '--format=tar', sha]);
    const untar = spawnSync('tar', ['-x', '-C', root], { input: tar.stdout });
    if (tar.status !== 0 || untar.status !== 0) {
      throw new Error(`--against ${ref}: could not extract ${sha}: ${untar.stderr}`);
    }
  }
  if (!existsSync(join(root, 'node_modules'))) {
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  }
  return { sha, root };
};

export const againstRef = (): string | undefined => {
  const at = process.argv.indexOf('--against');
  return at >= 0 ? process.argv[at + 1] : undefined;
};
