import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { BuildOptions, Plugin } from 'esbuild';
import { parse } from 'yaml';
import { ROOT } from './paths.js';

/**
 * Each function bundled as `sls package` bundles it: serverless.yml's `custom.esbuild`, turned
 * into esbuild's options as serverless-esbuild turns it (its own keys dropped, `exclude` made
 * `external`, `outputFileExtension` made `outExtension`, `plugins` given as a file path replaced
 * by the plugins that file exports). The benchmarks and the bundle tests
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

/**
 * The plugins exported by the file `custom.esbuild.plugins` names (relative to the service), as
 * serverless-esbuild loads them: an array, or a function of the framework (not used here).
 */
const pluginsFrom = (root: string, path: string): Plugin[] => {
  const exported = createRequire(join(root, 'serverless.yml'))(join(root, path)) as unknown;
  if (!Array.isArray(exported)) {
    throw new Error(`custom.esbuild.plugins: ${path} must export an array of esbuild plugins`);
  }
  return exported as Plugin[];
};

interface Service {
  readonly provider?: { readonly environment?: Record<string, unknown> };
  readonly functions: Record<string, { readonly handler: string }>;
  readonly custom: {
    readonly esbuild: Record<string, unknown>;
    readonly localOnlyFunctions?: readonly string[];
  };
}

const readService = (root: string): Service =>
  parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as Service;

/**
 * serverless.yml's `custom.esbuild` as esbuild options; `root`: this repository, or another
 * checkout of it (bench/cold-start.ts --against builds an older commit).
 */
export const serverlessEsbuildOptions = (root = ROOT): BuildOptions => {
  const custom = readService(root).custom.esbuild;
  const options = Object.fromEntries(
    Object.entries(custom).filter(([key]) => !PLUGIN_KEYS.has(key)),
  ) as BuildOptions;
  const exclude = (custom.exclude ?? []) as string[];
  const extension = custom.outputFileExtension as string | undefined;
  return {
    ...options,
    // Paths in the options (`inject`) are the service's, as serverless-esbuild runs from it.
    absWorkingDir: root,
    ...(typeof custom.plugins === 'string' ? { plugins: pluginsFrom(root, custom.plugins) } : {}),
    external: [...(options.external ?? []), ...exclude.filter((e) => e !== '*')],
    ...(extension && extension !== '.js' ? { outExtension: { '.js': extension } } : {}),
  };
};

/** The functions' `NODE_OPTIONS` (serverless.yml `provider.environment`), if it sets them. */
export const serviceNodeOptions = (root = ROOT): string | undefined => {
  const value = readService(root).provider?.environment?.NODE_OPTIONS;
  return typeof value === 'string' ? value : undefined;
};

/** The handler file of each function (`functions/<name>/handler.ts`). */
export const handlerEntry = (name: string, root = ROOT): string =>
  join(root, 'functions', name, 'handler.ts');

/**
 * The folder names (`functions/<name>/`) of the functions an AWS stage deploys: serverless.yml's
 * functions but `custom.localOnlyFunctions` (serverless/local-only.cjs removes those there).
 */
export const deployedFunctionNames = (root = ROOT): string[] => {
  const service = readService(root);
  const localOnly = new Set(service.custom.localOnlyFunctions ?? []);
  return Object.entries(service.functions)
    .filter(([key]) => !localOnly.has(key))
    .map(([, fn]) => /^functions\/([^/]+)\/handler\.handler$/.exec(fn.handler)?.[1])
    .filter((name): name is string => name !== undefined);
};
