import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, ROOT } from './paths.js';
import { run } from './process.js';
import { installPythonVenv } from './python-venv.js';

/**
 * AWS's CloudFormation linter (`cfn-lint`, a Python package from PyPI), kept in a virtual
 * environment under `.cache/` so that it needs nothing installed globally but Python 3.9+.
 */

const REQUIREMENTS = join(ROOT, 'scripts/cfn-lint/requirements.txt');
const VENV_DIR = join(CACHE_DIR, 'cfn-lint');

/** The linter's executable inside the virtual environment. */
export const CFN_LINT_BIN = join(VENV_DIR, 'bin', 'cfn-lint');

/** The pinned version, read from the requirements file so that there is one place to change it. */
export const CFN_LINT_VERSION = (() => {
  const match = /^cfn-lint==(\S+)$/m.exec(readFileSync(REQUIREMENTS, 'utf8'));
  if (!match?.[1]) throw new Error(`No cfn-lint==<version> line in ${REQUIREMENTS}`);
  return match[1];
})();

/** How to install it, for messages. */
export const CFN_LINT_INSTALL_HINT =
  'run `npm run cfn-lint:install` (Python 3 with venv and pip; installs cfn-lint from PyPI into .cache/cfn-lint)';

const LINT_TIMEOUT_MS = 120_000;

/** The installed version, or `undefined` when it is not installed (or does not run). */
export const installedCfnLintVersion = (): string | undefined => {
  if (!existsSync(CFN_LINT_BIN)) return undefined;
  const out = run(CFN_LINT_BIN, ['--version'], { timeoutMs: 30_000 });
  return out.code === 0 ? /cfn-lint (\S+)/.exec(out.stdout + out.stderr)?.[1] : undefined;
};

/** Installs the pinned cfn-lint unless it is already there. */
export const installCfnLint = async (): Promise<string> => {
  if (installedCfnLintVersion() === CFN_LINT_VERSION) return CFN_LINT_VERSION;
  await installPythonVenv('cfn-lint', VENV_DIR, REQUIREMENTS);
  const version = installedCfnLintVersion();
  if (version !== CFN_LINT_VERSION) {
    throw new Error(`cfn-lint ${CFN_LINT_VERSION} was installed, but ${CFN_LINT_BIN} does not run`);
  }
  return version;
};

/** One finding of cfn-lint. */
export interface CfnLintFinding {
  readonly level: 'Error' | 'Warning' | 'Informational';
  readonly rule: string;
  readonly message: string;
  /** Where in the template, such as `Resources/InboxTable/Properties`. */
  readonly path: string;
}

interface RawFinding {
  Level: CfnLintFinding['level'];
  Rule: { Id: string };
  Message: string;
  Location: { Path: (string | number)[] | null };
}

/**
 * Lints CloudFormation templates; resolves with every finding (errors, warnings, informational).
 * @throws Error when cfn-lint is not installed or could not read a template
 */
export const lintTemplates = (templates: readonly string[]): CfnLintFinding[] => {
  if (!existsSync(CFN_LINT_BIN)) {
    throw new Error(`cfn-lint is not installed at ${CFN_LINT_BIN}: ${CFN_LINT_INSTALL_HINT}.`);
  }
  const out = run(CFN_LINT_BIN, ['--format', 'json', '--', ...templates], {
    timeoutMs: LINT_TIMEOUT_MS,
  });
  let raw: RawFinding[];
  try {
    raw = JSON.parse(out.stdout) as RawFinding[];
  } catch {
    throw new Error(`cfn-lint exited with code ${out.code} without a report: ${out.stderr}`);
  }
  return raw.map((f) => ({
    level: f.Level,
    rule: f.Rule.Id,
    message: f.Message,
    path: (f.Location.Path ?? []).join('/'),
  }));
};

/** One line per finding, for reports. */
export const formatFindings = (findings: readonly CfnLintFinding[]): string =>
  findings.map((f) => `${f.level} ${f.rule} at ${f.path}: ${f.message}`).join('\n');
