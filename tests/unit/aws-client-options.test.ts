import { describe, expect, it } from 'vitest';
import { awsClientOptions } from '../../shared/aws/client-options.js';
import { DOCUMENT_CLIENT_DEFAULTS } from '../../shared/aws/dynamodb-client.js';
import { IDEMPOTENCY_DEFAULTS } from '../../shared/idempotency/guard.js';
import { GATEWAY_DEFAULTS } from '../../shared/realtime/gateway.js';

describe('awsClientOptions', () => {
  it('fails an attempt whose answer outlives its request timeout (the SDK would only warn)', () => {
    for (const bounds of [DOCUMENT_CLIENT_DEFAULTS, GATEWAY_DEFAULTS]) {
      expect(awsClientOptions(bounds, { local: true }).requestHandler).toEqual({
        connectionTimeout: bounds.CONNECTION_TIMEOUT_MS,
        requestTimeout: bounds.REQUEST_TIMEOUT_MS,
        throwOnRequestTimeout: true,
      });
    }
  });

  it("waits for the Idempotency-Key guard's late answers: its conditional put is not sent twice", () => {
    expect(awsClientOptions(IDEMPOTENCY_DEFAULTS, { local: true }).requestHandler).toMatchObject({
      requestTimeout: IDEMPOTENCY_DEFAULTS.REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: false,
    });
  });
});
