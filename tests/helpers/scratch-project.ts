import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A serverless project of its own, outside the repository, for tests of what users install:
 * its dependencies come from npm (offline, from the cache the repository's `npm ci` filled, at
 * the versions of the repository's lockfile), a package under test from its `npm pack` tarball.
 */

const ROOT = join(import.meta.dirname, '../..');
const run = promisify(execFile);

interface LockEntry {
  version?: string;
  integrity?: string;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}
interface Lockfile {
  packages: Record<string, LockEntry>;
}

/** Where Node would find `name` from the package at `from` (a lockfile path), in `packages`. */
const locate = (packages: Lockfile['packages'], from: string, name: string): string | undefined => {
  for (let dir = from; ; ) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
    const at = dir.lastIndexOf('/node_modules/');
    dir = at < 0 ? '' : dir.slice(0, at);
  }
};

/**
 * The lockfile entries that `roots` (dependencies of the project, by name) need, transitively,
 * as the repository's lockfile resolves them; optional dependencies it did not install are left
 * out, as npm leaves them out on this platform.
 */
const closure = (lock: Lockfile, roots: readonly string[]): Record<string, LockEntry> => {
  const out: Record<string, LockEntry> = {};
  const visit = (path: string) => {
    if (out[path]) return;
    const entry = lock.packages[path];
    if (!entry) return;
    out[path] = entry;
    const wanted = {
      ...entry.dependencies,
      ...entry.optionalDependencies,
      ...Object.fromEntries(
        Object.entries(entry.peerDependencies ?? {}).filter(
          ([name]) => !entry.peerDependenciesMeta?.[name]?.optional,
        ),
      ),
    };
    for (const name of Object.keys(wanted)) {
      const found = locate(lock.packages, path, name);
      if (found) visit(found);
    }
  };
  for (const name of roots) visit(`node_modules/${name}`);
  return out;
};

const sri = (file: string) =>
  `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;

/**
 * Writes `dir/package.json` (devDependencies: `dependencies`, taken at the repository's
 * versions, plus the tarball) and a lockfile, then runs `npm ci --offline` there. The tarball's
 * own dependencies must be among the repository's (its lockfile says which version).
 */
export const installScratchProject = async (
  dir: string,
  dependencies: Readonly<Record<string, string>>,
  tarball: string,
): Promise<void> => {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lockfile;
  const local = basename(tarball);
  copyFileSync(tarball, join(dir, local));
  const manifest = JSON.parse(
    (await run('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })).stdout,
  ) as LockEntry & { name: string; version: string };
  const devDependencies = { ...dependencies, [manifest.name]: `file:${local}` };
  const own = {
    ...manifest.dependencies,
    ...Object.fromEntries(
      Object.entries(manifest.peerDependencies ?? {}).filter(
        ([name]) => !manifest.peerDependenciesMeta?.[name]?.optional,
      ),
    ),
  };
  const packages = closure(lock, [...Object.keys(dependencies), ...Object.keys(own)]);
  const project = { name: 'scratch-project', version: '1.0.0', private: true, devDependencies };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(project, null, 2)}\n`);
  const lockfile = {
    name: project.name,
    version: project.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: project.name, version: project.version, devDependencies },
      ...packages,
      [`node_modules/${manifest.name}`]: {
        version: manifest.version,
        resolved: `file:${local}`,
        integrity: sri(tarball),
        dev: true,
        ...(manifest.dependencies ? { dependencies: manifest.dependencies } : {}),
        ...(manifest.peerDependencies ? { peerDependencies: manifest.peerDependencies } : {}),
        // Without it npm takes an optional peer (the IAM signer, the Glue client) for a missing one.
        ...(manifest.peerDependenciesMeta
          ? { peerDependenciesMeta: manifest.peerDependenciesMeta }
          : {}),
      },
    },
  };
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
  await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
  });
};
