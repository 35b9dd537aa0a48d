import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildOptions } from 'esbuild';
import { parse } from 'yaml';
import { ROOT } from './paths.js';

/**
 * Each function bundled as `sls package` bundles it: serverless.yml's `custom.esbuild`, turned
 * into esbuild's options as serverless-esbuild turns it (its own keys dropped, `exclude` made
 * `external`, `outputFileExtension` made `outExtension`). The benchmarks and the bundle tests
 * read it here, so that they never measure or check another build than the deployed one.
 */

/** serverless-esbuild's own options, which it removes before calling esbuild. */
const PLUGIN_KEYS = new Set([
  'concurrency',
  'zipConcurrency',
  'exclude',
  'nativeZip',
  'packager',
  'packagePath',
  'watch',
  'keepOutputDirectory',
  'packagerOptions',
  'installExtraArgs',
  'outputFileExtension',
  'outputBuildFolder',
  'outputWorkFolder',
  'nodeExternals',
  'skipBuild',
  'skipRebuild',
  'skipBuildExcludeFns',
  'stripEntryResolveExtensions',
  'disposeContext',
]);

/** serverless.yml's `custom.esbuild` as esbuild options. */
export const serverlessEsbuildOptions = (): BuildOptions => {
  const service = parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as {
    custom: { esbuild: Record<string, unknown> };
  };
  const custom = service.custom.esbuild;
  const options = Object.fromEntries(
    Object.entries(custom).filter(([key]) => !PLUGIN_KEYS.has(key)),
  ) as BuildOptions;
  const exclude = (custom.exclude ?? []) as string[];
  const extension = custom.outputFileExtension as string | undefined;
  return {
    ...options,
    external: [...(options.external ?? []), ...exclude.filter((e) => e !== '*')],
    ...(extension && extension !== '.js' ? { outExtension: { '.js': extension } } : {}),
  };
};

/** The handler file of each function (`functions/<name>/handler.ts`). */
export const handlerEntry = (name: string): string => join(ROOT, 'functions', name, 'handler.ts');
