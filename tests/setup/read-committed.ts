import { createRequire } from 'node:module';

/**
 * Before any test file loads kafkajs: its consumers drop every aborted record (the event source's
 * fix for kafkajs's read-committed filter, plugins/serverless-offline-kafka/src/aborted.js), so
 * that a test reading a topic back never counts an aborted transaction's record as written.
 */
const require = createRequire(import.meta.url);
const { install } = require('../../plugins/serverless-offline-kafka/src/aborted.js') as {
  install: () => { installed: boolean; reason?: string };
};
const result = install();
if (!result.installed)
  throw new Error(`kafkajs's aborted-record filter not replaced: ${result.reason}`);
