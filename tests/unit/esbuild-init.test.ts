import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import esbuildInit from '../../serverless/esbuild-init.cjs';

const ROOT = join(import.meta.dirname, '../..');
const packagesAtInit = (fn: string) =>
  esbuildInit.initPackages({
    entryPoints: [`functions/${fn}/handler.ts`],
    absWorkingDir: ROOT,
    platform: 'node',
    format: 'cjs',
  });

describe('initPackages (serverless/esbuild-init.cjs)', () => {
  it("finds the packages a function's init imports, not those it imports with import()", async () => {
    const consumer = await packagesAtInit('process-notifications');
    expect(consumer).toContain('@aws-sdk/client-dynamodb');
    expect(consumer).toContain('@aws-lambda-powertools/logger');
    // Only to dead-letter, with import(): a file of its own.
    expect(consumer).not.toContain('kafkajs');
    expect(consumer).not.toContain('aws-msk-iam-sasl-signer-js');
    expect(consumer).not.toContain('@aws-sdk/client-kafka');
  });

  it('follows static imports only: what a lazily loaded module imports is not at init', async () => {
    const producer = await packagesAtInit('send-notification');
    // The publisher imports kafkajs statically: it stays in the handler file.
    expect(producer).toContain('kafkajs');
    // The store of Idempotency-Keys is loaded with import() on the first request with a key.
    expect(producer).not.toContain('@aws-sdk/client-dynamodb');
    expect(producer).not.toContain('@aws-lambda-powertools/idempotency');
  });
});
