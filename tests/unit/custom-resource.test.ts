import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CUSTOM_RESOURCE_DEFAULTS,
  type CustomResourceRequest,
  CustomResourceRequestSchema,
  customResourceResponse,
  fetchPut,
  type Put,
  sendCustomResourceResponse,
} from '../../shared/custom-resource.js';
import { CustomResourceResponseError } from '../../shared/errors.js';
import { loadEvent } from '../helpers/events.js';

const request = (): CustomResourceRequest =>
  CustomResourceRequestSchema.parse(loadEvent('provision-topics-create.json'));

const URL =
  'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=secret';

const response = () =>
  customResourceResponse(request(), { status: 'SUCCESS', physicalResourceId: 'id-1' });

/** A PUT that answers each attempt from `outcomes` (a status, or an error to throw). */
const scriptedPut = (outcomes: (number | Error)[]) => {
  const bodies: string[] = [];
  const put: Put = async (_url, body) => {
    bodies.push(Buffer.from(body).toString('utf8'));
    const next = outcomes.shift() ?? 200;
    if (next instanceof Error) throw next;
    return next;
  };
  return { put, bodies };
};

const noSleep = async () => undefined;

describe('customResourceResponse', () => {
  it('echoes the request ids and names the resource', () => {
    const event = request();
    expect(
      customResourceResponse(event, {
        status: 'SUCCESS',
        physicalResourceId: 'id-1',
        data: { Topics: 'notifications (created, 3 partitions)' },
      }),
    ).toEqual({
      Status: 'SUCCESS',
      PhysicalResourceId: 'id-1',
      StackId: event.StackId,
      RequestId: event.RequestId,
      LogicalResourceId: 'KafkaTopics',
      Data: { Topics: 'notifications (created, 3 partitions)' },
    });
  });

  it("cuts a long reason so that the body fits CloudFormation's 4096 bytes", () => {
    const answer = customResourceResponse(request(), {
      status: 'FAILED',
      physicalResourceId: 'id-1',
      reason: `${'é"\n'.repeat(3000)}end`,
    });
    const bytes = Buffer.byteLength(JSON.stringify(answer), 'utf8');
    expect(bytes).toBeLessThanOrEqual(CUSTOM_RESOURCE_DEFAULTS.MAX_RESPONSE_BYTES);
    expect(bytes).toBeGreaterThan(CUSTOM_RESOURCE_DEFAULTS.MAX_RESPONSE_BYTES - 16);
    expect(answer.Reason?.endsWith('...')).toBe(true);
  });

  it('drops Data rather than send a body CloudFormation refuses', () => {
    const answer = customResourceResponse(request(), {
      status: 'SUCCESS',
      physicalResourceId: 'id-1',
      data: { Topics: 'x'.repeat(5000) },
    });
    expect(answer.Data).toBeUndefined();
  });
});

describe('sendCustomResourceResponse', () => {
  it('PUTs the JSON answer once when it is taken', async () => {
    const { put, bodies } = scriptedPut([200]);
    await sendCustomResourceResponse(URL, response(), { put, sleep: noSleep });
    expect(bodies.map((b) => JSON.parse(b))).toEqual([response()]);
  });

  it('tries again after a network error or a 5xx', async () => {
    const { put, bodies } = scriptedPut([new Error('socket hang up'), 503, 200]);
    await sendCustomResourceResponse(URL, response(), { put, sleep: noSleep });
    expect(bodies).toHaveLength(3);
  });

  it('gives up after the last attempt without naming the pre-signed URL', async () => {
    const { put, bodies } = scriptedPut([500, 500, 500]);
    const error = await sendCustomResourceResponse(URL, response(), { put, sleep: noSleep }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CustomResourceResponseError);
    expect(String(error)).toContain('HTTP 500');
    expect(String(error)).not.toContain('secret');
    expect(bodies).toHaveLength(CUSTOM_RESOURCE_DEFAULTS.RESPONSE_ATTEMPTS);
  });

  it('does not try again after a 4xx (an expired URL stays expired)', async () => {
    const { put, bodies } = scriptedPut([403]);
    await expect(
      sendCustomResourceResponse(URL, response(), { put, sleep: noSleep }),
    ).rejects.toThrow('HTTP 403');
    expect(bodies).toHaveLength(1);
  });
});

describe('fetchPut', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('sends bytes with PUT and no content type, as S3 pre-signed URLs expect', async () => {
    const calls: { url: string; init: RequestInit | undefined }[] = [];
    vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
      calls.push({ url, init });
      return new Response(null, { status: 200 });
    });
    const status = await fetchPut(URL, Buffer.from('{}'), AbortSignal.timeout(1_000));
    expect(status).toBe(200);
    expect(calls[0]?.url).toBe(URL);
    expect(calls[0]?.init?.method).toBe('PUT');
    expect(calls[0]?.init?.headers).toBeUndefined();
    expect(calls[0]?.init?.body).toBeInstanceOf(Uint8Array);
  });
});
