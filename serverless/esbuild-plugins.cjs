// @ts-check
'use strict';

const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const esbuild = require('esbuild');
const { initBundle } = require('./esbuild-init.cjs');

/**
 * esbuild plugins of the functions' bundles (serverless-esbuild's `plugins`). `virtual:web-assets`
 * is the live inbox page (web/), `virtual:cluster-assets` the local cluster page (web/cluster/):
 * each page's HTML and CSS as they are, and its TypeScript bundled for browsers, all as strings
 * the page's function serves. Built with the function, so offline and AWS serve the
 * same files. `initBundle` (./esbuild-init.cjs): what a function's init does not use stays out of
 * its handler file.
 */

/**
 * `virtual:<name>`: the page in `dir` (its index.html, app.ts and app.css) as strings.
 * @param {string} name
 * @param {string} dir
 * @returns {import('esbuild').Plugin}
 */
const pageAssets = (name, dir) => ({
  name,
  setup(build) {
    build.onResolve({ filter: new RegExp(`^virtual:${name}$`) }, (args) => ({
      path: args.path,
      namespace: name,
    }));
    build.onLoad({ filter: /.*/, namespace: name }, async () => {
      const app = await esbuild.build({
        entryPoints: [join(dir, 'app.ts')],
        bundle: true,
        write: false,
        format: 'iife',
        platform: 'browser',
        target: 'es2022',
        minify: true,
      });
      const js = app.outputFiles[0]?.text ?? '';
      const assets = {
        'index.html': readFileSync(join(dir, 'index.html'), 'utf8'),
        'app.js': js,
        'app.css': readFileSync(join(dir, 'app.css'), 'utf8'),
      };
      return {
        contents: `export default ${JSON.stringify(assets)};`,
        loader: 'js',
        // Rebuilt when the page changes (serverless-offline's reload, esbuild's watch).
        watchFiles: ['app.ts', 'index.html', 'app.css'].map((f) => join(dir, f)),
      };
    });
  },
});

const WEB = join(__dirname, '..', 'web');

module.exports = [
  // The live inbox page.
  pageAssets('web-assets', WEB),
  // The local cluster page (local stage only).
  pageAssets('cluster-assets', join(WEB, 'cluster')),
  initBundle,
];
