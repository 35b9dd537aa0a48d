// @ts-check
'use strict';

const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const esbuild = require('esbuild');
const { initBundle } = require('./esbuild-init.cjs');

/**
 * esbuild plugins of the functions' bundles (serverless-esbuild's `plugins`). `virtual:web-assets`
 * is the page (web/): its HTML and CSS as they are, and its TypeScript bundled for browsers, all
 * as strings the page function serves. Built with the function, so offline and AWS serve the
 * same files. `initBundle` (./esbuild-init.cjs): what a function's init does not use stays out of
 * its handler file.
 */

const WEB = join(__dirname, '..', 'web');
const NAMESPACE = 'web-assets';

/** @type {import('esbuild').Plugin} */
const webAssets = {
  name: 'web-assets',
  setup(build) {
    build.onResolve({ filter: /^virtual:web-assets$/ }, (args) => ({
      path: args.path,
      namespace: NAMESPACE,
    }));
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, async () => {
      const app = await esbuild.build({
        entryPoints: [join(WEB, 'app.ts')],
        bundle: true,
        write: false,
        format: 'iife',
        platform: 'browser',
        target: 'es2022',
        minify: true,
      });
      const js = app.outputFiles[0]?.text ?? '';
      const assets = {
        'index.html': readFileSync(join(WEB, 'index.html'), 'utf8'),
        'app.js': js,
        'app.css': readFileSync(join(WEB, 'app.css'), 'utf8'),
      };
      return {
        contents: `export default ${JSON.stringify(assets)};`,
        loader: 'js',
        // Rebuilt when the page changes (serverless-offline's reload, esbuild's watch).
        watchFiles: ['app.ts', 'index.html', 'app.css'].map((f) => join(WEB, f)),
      };
    });
  },
};

module.exports = [webAssets, initBundle];
