import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CHECKOV_BIN,
  CHECKOV_INSTALL_HINT,
  formatCheckovFindings,
  installedCheckovVersion,
  scanTemplates,
} from '../../scripts/lib/checkov.js';
import { TEMPLATES } from '../../scripts/lib/package.js';
import { exampleResources, packagedDir, STAGE } from '../helpers/example-package.js';

/**
 * The packaged stack scanned by checkov, an infrastructure-as-code security scanner (PyPI,
 * `npm run checkov:install`): clean, every finding fixed or suppressed on its resource with the
 * reason (serverless/checkov.cjs). The update-stack template is the stack as deployed; the
 * create-stack one holds only the deployment bucket, which the update template holds too.
 */

let template = '';

beforeAll(() => {
  template = join(packagedDir(), TEMPLATES.update);
});

describe(`sls package --stage ${STAGE}, scanned by checkov`, () => {
  it('has no failed check', () => {
    const version = installedCheckovVersion();
    if (!version)
      throw new Error(`checkov is not installed at ${CHECKOV_BIN}: ${CHECKOV_INSTALL_HINT}.`);
    const report = scanTemplates([template]);
    expect(report.passed).toBeGreaterThan(50);
    expect(formatCheckovFindings(report.failed)).toBe('');
  });

  it('suppresses nothing without a reason', () => {
    for (const [id, resource] of Object.entries(exampleResources())) {
      const skips =
        (resource as { Metadata?: { checkov?: { skip?: { id: string; comment?: string }[] } } })
          .Metadata?.checkov?.skip ?? [];
      for (const skip of skips) {
        expect(skip.id, id).toMatch(/^CKV_AWS_\d+$/);
        expect(skip.comment?.length ?? 0, `${id} ${skip.id}`).toBeGreaterThan(40);
      }
    }
  });
});
