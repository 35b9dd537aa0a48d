/**
 * The deployment, checked without an AWS account: `tsx scripts/cfn-lint.ts install|check [stage]`
 * (`npm run cfn-lint:install`, `npm run cfn-lint`). `check` packages an AWS stage (default
 * `example`) into a temporary folder and lints its CloudFormation templates; it fails on errors
 * and prints warnings.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { formatFindings, installCfnLint, lintTemplates } from './lib/cfn-lint.js';
import { packageDir, packageStage, TEMPLATES } from './lib/package.js';

const log = (message: string): void => {
  process.stderr.write(`[cfn-lint] ${message}\n`);
};

const check = (stage: string): boolean => {
  const outDir = packageDir(stage);
  try {
    log(`packaging stage ${stage} into ${outDir}`);
    packageStage({ stage, outDir });
    const findings = lintTemplates(Object.values(TEMPLATES).map((t) => join(outDir, t)));
    if (findings.length > 0) process.stdout.write(`${formatFindings(findings)}\n`);
    const errors = findings.filter((f) => f.level === 'Error').length;
    log(`${errors} errors, ${findings.length - errors} warnings or notes`);
    return errors === 0;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
};

const main = async (command: string | undefined, stage = 'example'): Promise<void> => {
  switch (command) {
    case 'install':
      log(`cfn-lint ${await installCfnLint()} ready`);
      return;
    case 'check':
      if (!check(stage)) process.exitCode = 1;
      return;
    default:
      throw new Error('usage: tsx scripts/cfn-lint.ts install|check [stage]');
  }
};

main(process.argv[2], process.argv[3]).catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
