// @ts-check
'use strict';

/**
 * Injected at the top of every function's bundle (`custom.esbuild.inject` in serverless.yml):
 * stack traces name the TypeScript file and line. `source-map-support` is installed, and the
 * bundle's map read, the first time a stack is formatted, not at init: NODE_OPTIONS=
 * --enable-source-maps has Node parse the map of every file it loads (nodejs/node#38817, about
 * 20 ms of each init here), and esbuild evaluates a bundled CommonJS package only when it is
 * first required. Uncaught exceptions are left to the Lambda runtime.
 */
Error.prepareStackTrace = (error, frames) => {
  require('source-map-support').install({ environment: 'node', handleUncaughtExceptions: false });
  const prepare = Error.prepareStackTrace;
  return prepare ? prepare(error, frames) : `${error}`;
};
