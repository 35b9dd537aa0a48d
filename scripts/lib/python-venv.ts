import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from './paths.js';
import { run, runInherit } from './process.js';

/**
 * Makes `dir` a fresh Python virtual environment holding the pinned `requirements` (a PyPI
 * tool kept under `.cache/`: cfn-lint, checkov, moto). `tool` names it in the error when no
 * Python 3.9+ with venv is found.
 */
export const installPythonVenv = async (
  tool: string,
  dir: string,
  requirements: string,
): Promise<void> => {
  const python = ['python3', 'python'].find(
    (p) => run(p, ['-c', 'import sys, venv; sys.exit(sys.version_info < (3, 9))']).code === 0,
  );
  if (!python) {
    throw new Error(
      `${tool} needs Python 3.9+ with the venv module (apt-get install python3-venv)`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(CACHE_DIR, { recursive: true });
  await runInherit(python, ['-m', 'venv', dir]);
  await runInherit(join(dir, 'bin', 'pip'), [
    'install',
    '--quiet',
    '--disable-pip-version-check',
    '-r',
    requirements,
  ]);
};
