import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, ROOT } from './paths.js';
import { run } from './process.js';
import { installPythonVenv } from './python-venv.js';

/**
 * checkov, an infrastructure-as-code security scanner (a Python package from PyPI), kept in a
 * virtual environment of its own under `.cache/` as cfn-lint is (scripts/lib/cfn-lint.ts). The
 * deploy tests scan the packaged CloudFormation template with it; each finding is fixed, or
 * suppressed in the template with the reason (`Metadata.checkov.skip`, written by
 * serverless/checkov.cjs).
 */

const REQUIREMENTS = join(ROOT, 'scripts/checkov/requirements.txt');
const VENV_DIR = join(CACHE_DIR, 'checkov');

/** The scanner's executable inside the virtual environment. */
export const CHECKOV_BIN = join(VENV_DIR, 'bin', 'checkov');

/** The pinned version, read from the requirements file. */
export const CHECKOV_VERSION = (() => {
  const match = /^checkov==(\S+)$/m.exec(readFileSync(REQUIREMENTS, 'utf8'));
  if (!match?.[1]) throw new Error(`No checkov==<version> line in ${REQUIREMENTS}`);
  return match[1];
})();

export const CHECKOV_INSTALL_HINT =
  'run `npm run checkov:install` (Python 3 with venv and pip; installs checkov from PyPI into .cache/checkov)';

const SCAN_TIMEOUT_MS = 300_000;

/** The installed version, or `undefined` when it is not installed (or does not run). */
export const installedCheckovVersion = (): string | undefined => {
  if (!existsSync(CHECKOV_BIN)) return undefined;
  const out = run(CHECKOV_BIN, ['--version'], { timeoutMs: 60_000 });
  return out.code === 0 ? out.stdout.trim().split('\n').at(-1)?.trim() : undefined;
};

/** Installs the pinned checkov unless it is already there. */
export const installCheckov = async (): Promise<string> => {
  if (installedCheckovVersion() === CHECKOV_VERSION) return CHECKOV_VERSION;
  await installPythonVenv('checkov', VENV_DIR, REQUIREMENTS);
  const version = installedCheckovVersion();
  if (version !== CHECKOV_VERSION) {
    throw new Error(`checkov ${CHECKOV_VERSION} was installed, but ${CHECKOV_BIN} does not run`);
  }
  return version;
};

/** One failed check of checkov. */
export interface CheckovFinding {
  readonly check: string;
  readonly name: string;
  /** The template's logical id, such as `AWS::DynamoDB::Table.InboxTable`. */
  readonly resource: string;
  readonly file: string;
}

/** What a scan came to. */
export interface CheckovReport {
  readonly passed: number;
  readonly failed: readonly CheckovFinding[];
  /** Checks suppressed in the template (each with the reason given there). */
  readonly skipped: number;
}

interface RawCheck {
  check_id: string;
  check_name?: string;
  resource: string;
  file_path: string;
}
/** checkov's JSON report; `--quiet` lists the failed checks only, the summary counts all. */
interface RawReport {
  results?: { failed_checks?: RawCheck[] };
  summary?: { passed?: number; skipped?: number };
}

/**
 * Scans CloudFormation templates with checkov's CloudFormation checks, offline (no platform
 * account, no download of guidelines).
 * @throws Error when checkov is not installed, or ran without a report
 */
export const scanTemplates = (templates: readonly string[]): CheckovReport => {
  if (!existsSync(CHECKOV_BIN)) {
    throw new Error(`checkov is not installed at ${CHECKOV_BIN}: ${CHECKOV_INSTALL_HINT}.`);
  }
  const out = run(
    CHECKOV_BIN,
    [
      '--framework',
      'cloudformation',
      '--output',
      'json',
      '--quiet',
      '--compact',
      '--skip-download',
      '--soft-fail',
      ...templates.flatMap((t) => ['--file', t]),
    ],
    { timeoutMs: SCAN_TIMEOUT_MS, env: { ...process.env, BC_SKIP_MAPPING: 'TRUE' } },
  );
  let parsed: RawReport | RawReport[];
  try {
    parsed = JSON.parse(out.stdout) as RawReport | RawReport[];
  } catch {
    throw new Error(`checkov exited with code ${out.code} without a report: ${out.stderr}`);
  }
  const reports = Array.isArray(parsed) ? parsed : [parsed];
  const finding = (c: RawCheck): CheckovFinding => ({
    check: c.check_id,
    name: c.check_name ?? '',
    resource: c.resource,
    file: c.file_path,
  });
  return {
    passed: reports.reduce((n, r) => n + (r.summary?.passed ?? 0), 0),
    failed: reports.flatMap((r) => r.results?.failed_checks ?? []).map(finding),
    skipped: reports.reduce((n, r) => n + (r.summary?.skipped ?? 0), 0),
  };
};

/** One line per failed check, for reports. */
export const formatCheckovFindings = (failed: readonly CheckovFinding[]): string =>
  failed.map((f) => `${f.check} ${f.resource} (${f.file}): ${f.name}`).join('\n');
