// @ts-check
'use strict';

const { basename, dirname, extname, join, relative, resolve } = require('node:path');
const esbuild = require('esbuild');

/**
 * An esbuild plugin that sorts what goes into a function's bundle by when the function needs it
 * (issue 13, cold start). Node compiles the whole handler file at init, even the code that only
 * runs on first use:
 *
 * - The AWS SDK packages that a function's init uses are bundled, tree-shaken from the SDK's ES
 *   modules (`mainFields`): AWS advises bundling and minifying the SDK v3 clients instead of
 *   loading the runtime's copy file by file ("Reduce Lambda cold start times: migrate to AWS SDK
 *   for JavaScript v3", AWS Developer Tools Blog; aws-cdk#25492). The SDK packages that a
 *   function only loads on first use (`import()`: the MSK API client, the IAM signer's
 *   credential providers, the producer's store of Idempotency-Keys), and what the bundled SDK
 *   itself loads with `import()` (the credential providers other than the environment's, which
 *   Lambda's functions never use), stay outside: the Lambda runtime's copy, required then.
 * - kafkajs and the MSK IAM signer, where a function only loads them on first use (the consumer
 *   dead-letters with kafkajs), are built into a file of their own beside the handler,
 *   `handler.<package>.cjs`, which the `import()` requires then. serverless-esbuild zips the
 *   files named after a function's handler with that function only. So is `source-map-support`,
 *   which every function requires only when it first formats a stack (serverless/source-maps.cjs).
 *
 * "Used by the init" is read from the function's import graph: a package imported by a static
 * `import` from a module that the handler reaches through static imports only.
 */

/** Packages built into a file of their own where a function only loads them on first use. */
const OWN_FILE = new Set(['kafkajs', 'aws-msk-iam-sasl-signer-js', 'source-map-support']);

const STATIC_KINDS = new Set(['import-statement', 'require-call']);

/** Passed to `build.resolve` by this plugin, so that it does not handle its own lookups. */
const SELF = Symbol('esbuild-init');

/** `@scope/name` or `name` of a bare import path. */
const packageOf = (/** @type {string} */ path) =>
  path
    .split('/')
    .slice(0, path.startsWith('@') ? 2 : 1)
    .join('/');

/** @param {import('esbuild').BuildOptions} options */
const entryOf = (options) => {
  const points = options.entryPoints;
  const first = Array.isArray(points) ? points[0] : points && Object.values(points)[0];
  const entry = typeof first === 'string' ? first : first?.in;
  if (!entry) throw new Error('esbuild-init: the build has no entry point');
  return entry;
};

/**
 * The packages the function's init loads: imported statically from a module that the entry
 * reaches through static imports only. One quick build with every package left outside.
 * @param {import('esbuild').BuildOptions} options
 * @returns {Promise<Set<string>>}
 */
const initPackages = async (options) => {
  const cwd = options.absWorkingDir ?? process.cwd();
  const entry = entryOf(options);
  const { metafile } = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: cwd,
    bundle: true,
    write: false,
    metafile: true,
    packages: 'external',
    platform: options.platform,
    format: options.format,
    outfile: join(cwd, 'init-packages.js'),
    logLevel: 'silent',
  });
  const start = relative(cwd, resolve(cwd, entry)).split('\\').join('/');
  const seen = new Set([start]);
  const queue = [start];
  const packages = new Set();
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    for (const imported of metafile.inputs[file]?.imports ?? []) {
      if (!STATIC_KINDS.has(imported.kind)) continue;
      if (imported.external) packages.add(packageOf(imported.path));
      else if (!seen.has(imported.path)) {
        seen.add(imported.path);
        queue.push(imported.path);
      }
    }
  }
  return packages;
};

/** Whether `importer` is a file of the AWS SDK (or of Smithy, its core). */
const inSdk = (/** @type {string} */ importer) =>
  /[\\/]node_modules[\\/]@(aws-sdk|smithy)[\\/]/.test(importer);

/**
 * The AWS SDK rule alone: bundled where imported statically by the SDK itself or where `atInit`,
 * the runtime's copy otherwise.
 * @param {(path: string) => boolean} atInit
 * @returns {import('esbuild').Plugin}
 */
const awsSdk = (atInit) => ({
  name: 'aws-sdk-at-init',
  setup(build) {
    build.onResolve({ filter: /^@aws-sdk\// }, (args) => {
      if (args.kind !== 'dynamic-import' && (inSdk(args.importer) || atInit(args.path))) {
        return undefined;
      }
      return { path: args.path, external: true };
    });
  },
});

/** @type {import('esbuild').Plugin} */
const initBundle = {
  name: 'init-bundle',
  setup(build) {
    const options = build.initialOptions;
    /** @type {Set<string>} */
    let atInit = new Set();
    /** The files of their own built in this build, by path. */
    const ownFiles = new Map();
    build.onStart(async () => {
      atInit = await initPackages(options);
      ownFiles.clear();
    });
    awsSdk((path) => atInit.has(packageOf(path))).setup(build);

    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      const name = packageOf(args.path);
      if (args.pluginData === SELF || !OWN_FILE.has(name) || atInit.has(name)) return undefined;
      const entry = entryOf(options);
      const outdir = options.outdir ?? dirname(options.outfile ?? '');
      const extension = options.outExtension?.['.js'] ?? '.js';
      const file = `${basename(entry, extname(entry))}.${name.replace(/[@/]/g, '-')}${extension}`;
      const outfile = join(outdir, file);
      if (!ownFiles.has(outfile)) {
        const found = await build.resolve(args.path, {
          kind: 'import-statement',
          resolveDir: args.resolveDir,
          pluginData: SELF,
        });
        if (found.errors.length > 0) return { errors: found.errors };
        const {
          entryPoints: _e,
          outdir: _o,
          outfile: _f,
          metafile: _m,
          plugins: _p,
          inject: _i,
          ...rest
        } = options;
        ownFiles.set(
          outfile,
          esbuild.build({
            ...rest,
            entryPoints: [found.path],
            outfile,
            plugins: [awsSdk(() => false)],
          }),
        );
      }
      await ownFiles.get(outfile);
      return { path: `./${file}`, external: true };
    });
  },
};

module.exports = { initBundle, initPackages, OWN_FILE };
