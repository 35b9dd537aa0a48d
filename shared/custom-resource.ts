import * as z from 'zod/mini';
import { CustomResourceResponseError } from './errors.js';

/**
 * CloudFormation's custom resource protocol: the request a Lambda-backed custom resource
 * receives, and the answer it must PUT to the request's pre-signed `ResponseURL` (CloudFormation
 * user guide, `crpg-ref-requests` and `crpg-ref-responses`). CloudFormation waits for that answer,
 * so every request must get one, failures included.
 */

/** Bounds of the answer to CloudFormation. */
export const CUSTOM_RESOURCE_DEFAULTS = {
  /** CloudFormation refuses a response body larger than this, in bytes. */
  MAX_RESPONSE_BYTES: 4096,
  /** Time kept back from the invocation to send the answer, in milliseconds. */
  ANSWER_RESERVE_MS: 20_000,
  /** Longest one attempt to PUT the answer may take. */
  RESPONSE_TIMEOUT_MS: 5_000,
  /** Attempts to PUT the answer, the first included. */
  RESPONSE_ATTEMPTS: 3,
  RESPONSE_RETRY_DELAY_MS: 500,
} as const;

const text = z.string().check(z.minLength(1));

/** A custom resource request, as CloudFormation sends it to the function. */
export const CustomResourceRequestSchema = z.object({
  RequestType: z.enum(['Create', 'Update', 'Delete']),
  ResponseURL: z.url({ protocol: /^https?$/ }),
  StackId: text,
  RequestId: text,
  LogicalResourceId: text,
  ResourceType: text,
  /** Absent on `Create`: the answer names the resource. */
  PhysicalResourceId: z.optional(text),
  /** The template's properties; CloudFormation turns every scalar into a string. */
  ResourceProperties: z._default(z.record(z.string(), z.unknown()), {}),
});
export type CustomResourceRequest = z.output<typeof CustomResourceRequestSchema>;

/** What came of a request, before it is put in CloudFormation's words. */
export interface CustomResourceOutcome {
  readonly status: 'SUCCESS' | 'FAILED';
  readonly physicalResourceId: string;
  /** Why it failed: shown in the stack's events. */
  readonly reason?: string;
  /** Values readable with `Fn::GetAtt`. */
  readonly data?: Readonly<Record<string, string>>;
}

/** The answer's body (`crpg-ref-responses`). */
export interface CustomResourceResponse {
  readonly Status: 'SUCCESS' | 'FAILED';
  readonly Reason?: string;
  readonly PhysicalResourceId: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly Data?: Readonly<Record<string, string>>;
}

/**
 * The answer to `request`. A reason too long for CloudFormation's 4096-byte limit is cut, and
 * `Data` dropped if the body would still not fit, so that the answer is always accepted.
 */
export const customResourceResponse = (
  request: CustomResourceRequest,
  outcome: CustomResourceOutcome,
): CustomResourceResponse => {
  const base = {
    Status: outcome.status,
    PhysicalResourceId: outcome.physicalResourceId,
    StackId: request.StackId,
    RequestId: request.RequestId,
    LogicalResourceId: request.LogicalResourceId,
  };
  const withData = outcome.data ? { ...base, Data: outcome.data } : base;
  const reason = outcome.reason;
  if (reason === undefined) {
    return sizeOf(withData) <= CUSTOM_RESOURCE_DEFAULTS.MAX_RESPONSE_BYTES ? withData : base;
  }
  const room = CUSTOM_RESOURCE_DEFAULTS.MAX_RESPONSE_BYTES - sizeOf({ ...base, Reason: '' });
  return { ...base, Reason: truncate(reason, room) };
};

const sizeOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** `text` cut to at most `maxBytes` once JSON-encoded, with an ellipsis when cut. */
const truncate = (text: string, maxBytes: number): string => {
  // JSON.stringify adds two quotes; escapes may make the rest longer than the text.
  const fits = (s: string) => sizeOf(s) - 2 <= maxBytes;
  if (fits(text)) return text;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(`${text.slice(0, mid)}...`)) low = mid;
    else high = mid - 1;
  }
  return `${text.slice(0, low)}...`;
};

/** One HTTP PUT; resolves with the status, rejects on a network error or when `signal` aborts. */
export type Put = (url: string, body: Uint8Array, signal: AbortSignal) => Promise<number>;

/**
 * PUT with the global `fetch`. The body is bytes so that no `Content-Type` is sent: the URL is
 * pre-signed for S3, as the `cfn-response` module does it.
 */
export const fetchPut: Put = async (url, body, signal) => {
  const response = await fetch(url, { method: 'PUT', body, signal });
  await response.arrayBuffer().catch(() => undefined);
  return response.status;
};

export interface SendOptions {
  readonly put?: Put;
  readonly attempts?: number;
  readonly timeoutMs?: number;
  readonly retryDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Sends the answer to the pre-signed URL, trying again on network errors and 5xx answers, each
 * attempt bounded by `timeoutMs`.
 * @throws CustomResourceResponseError after the last attempt
 */
export const sendCustomResourceResponse = async (
  url: string,
  response: CustomResourceResponse,
  {
    put = fetchPut,
    attempts = CUSTOM_RESOURCE_DEFAULTS.RESPONSE_ATTEMPTS,
    timeoutMs = CUSTOM_RESOURCE_DEFAULTS.RESPONSE_TIMEOUT_MS,
    retryDelayMs = CUSTOM_RESOURCE_DEFAULTS.RESPONSE_RETRY_DELAY_MS,
    sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  }: SendOptions = {},
): Promise<void> => {
  const body = Buffer.from(JSON.stringify(response), 'utf8');
  let last = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await sleep(retryDelayMs * (attempt - 1));
    try {
      const status = await put(url, body, AbortSignal.timeout(timeoutMs));
      if (status >= 200 && status < 300) return;
      last = `HTTP ${status}`;
      if (status < 500) break;
    } catch (error) {
      last = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
  }
  throw new CustomResourceResponseError(
    `CloudFormation's response URL did not take the answer (${last}); check that the function can reach S3 (a NAT gateway or an S3 gateway endpoint).`,
  );
};
