import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CACHE_DIR, ROOT } from './paths.js';
import { run } from './process.js';

/**
 * `sls package` for an AWS stage, into a folder of the caller's, as CI checks the deployment
 * without an AWS account: packaging needs no credentials (serverless.yml reads none).
 */

const SLS = join(ROOT, 'node_modules', '.bin', 'sls');
const PACKAGE_TIMEOUT_MS = 300_000;

/** The templates `sls package` writes. */
export const TEMPLATES = {
  create: 'cloudformation-template-create-stack.json',
  update: 'cloudformation-template-update-stack.json',
} as const;

export interface PackageOptions {
  readonly stage: string;
  /** Where the zips and templates go (made empty first). */
  readonly outDir: string;
  /** `--param name=value` overrides. */
  readonly params?: Readonly<Record<string, string>>;
}

/**
 * Packages the service for `stage`. esbuild works in a folder of its own under `.cache/`, so that
 * this can run while `sls offline start` serves from `.esbuild/`.
 * @throws Error with the framework's output when packaging fails
 */
export const packageStage = ({ stage, outDir, params = {} }: PackageOptions): void => {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // Relative: serverless-esbuild joins it to the service folder.
  const workFolder = join(
    relative(ROOT, CACHE_DIR),
    `esbuild-package-${process.pid}-${Date.now()}`,
  );
  const args = ['package', '--stage', stage, '--package', outDir];
  for (const [name, value] of Object.entries(params)) args.push('--param', `${name}=${value}`);
  try {
    const out = run(SLS, args, {
      cwd: ROOT,
      timeoutMs: PACKAGE_TIMEOUT_MS,
      env: { ...process.env, ESBUILD_WORK_FOLDER: workFolder },
    });
    if (out.code !== 0) {
      throw new Error(
        `sls ${args.join(' ')} exited with code ${out.code}:\n${out.stdout}${out.stderr}`,
      );
    }
  } finally {
    rmSync(join(ROOT, workFolder), { recursive: true, force: true });
  }
};

/** A new temporary folder for a package of `stage`. */
export const packageDir = (stage: string): string =>
  mkdtempSync(join(tmpdir(), `kafka-notifications-${stage}-`));
