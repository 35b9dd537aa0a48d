import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { packageDir, packageStage } from '../../scripts/lib/package.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `sls package --stage example`, once for the deploy tests: its folder, or why it failed. */
    examplePackage: { readonly dir: string; readonly error?: string };
  }
}

/** The AWS stage packaged for the deploy tests: serverless.yml's `params.example`. */
export const EXAMPLE_STAGE = 'example';

/**
 * Packages the example stage once for every deploy test file (the template, the roles, the
 * packaged functions each read it), and removes it when they are done. A failure is handed to the
 * tests, which fail with it, rather than stopping the whole run.
 */
export default function setup(project: TestProject): () => void {
  const dir = packageDir(EXAMPLE_STAGE);
  try {
    packageStage({ stage: EXAMPLE_STAGE, outDir: dir });
    project.provide('examplePackage', { dir });
  } catch (error) {
    project.provide('examplePackage', {
      dir,
      error: error instanceof Error ? error.message : String(error),
    });
  }
  return () => rmSync(dir, { recursive: true, force: true });
}
