/**
 * The infrastructure-as-code scanner: `tsx scripts/checkov.ts install|check [stage]`
 * (`npm run checkov:install`, `npm run checkov`). `check` packages an AWS stage (default
 * `example`) into a temporary folder and scans its CloudFormation templates; it fails on any
 * failed check (a finding is fixed, or suppressed in the template with its reason).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { formatCheckovFindings, installCheckov, scanTemplates } from './lib/checkov.js';
import { packageDir, packageStage, TEMPLATES } from './lib/package.js';

const log = (message: string): void => {
  process.stderr.write(`[checkov] ${message}\n`);
};

const check = (stage: string): boolean => {
  const outDir = packageDir(stage);
  try {
    log(`packaging stage ${stage} into ${outDir}`);
    packageStage({ stage, outDir });
    // The stack as deployed; the create-stack template is the framework's first step, holding
    // only the deployment bucket, which the update template holds too.
    const report = scanTemplates([join(outDir, TEMPLATES.update)]);
    if (report.failed.length > 0) process.stdout.write(`${formatCheckovFindings(report.failed)}\n`);
    log(
      `${report.passed} passed, ${report.failed.length} failed, ${report.skipped} suppressed with a reason`,
    );
    return report.failed.length === 0;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
};

const main = async (command: string | undefined, stage = 'example'): Promise<void> => {
  switch (command) {
    case 'install':
      log(`checkov ${await installCheckov()} ready`);
      return;
    case 'check':
      if (!check(stage)) process.exitCode = 1;
      return;
    default:
      throw new Error('usage: tsx scripts/checkov.ts install|check [stage]');
  }
};

main(process.argv[2], process.argv[3]).catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
