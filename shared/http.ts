import type { Logger } from '@aws-lambda-powertools/logger';
import {
  type AppError,
  FieldError,
  fieldPath,
  InsufficientScopeError,
  InvalidTokenError,
  isAppError,
  isHttpError,
  MissingTokenError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from './errors.js';
import { findJsonShapeProblem, MAX_JSON_DEPTH } from './json.js';
import {
  type LambdaContext,
  type RequestContext,
  type Telemetry,
  withRequestContext,
} from './lambda.js';

/** Largest request body accepted, in bytes (after base64 decoding). */
export const MAX_BODY_BYTES = 256 * 1024;

/**
 * What an error answer holds at most, whatever the request: the first `ISSUES` issues (and
 * `issueCount`, all of them), each text cut to `TEXT_CHARS` characters. So an answer is never
 * much bigger than `MAX_BYTES` (a 256 KB body of unknown keys would otherwise be answered with
 * megabytes).
 */
export const ERROR_LIMITS = { ISSUES: 5, TEXT_CHARS: 200, MAX_BYTES: 2_560 } as const;

/** `text` cut to `max` characters (code points, never half a pair), marked with an ellipsis. */
export const truncate = (text: string, max: number = ERROR_LIMITS.TEXT_CHARS): string => {
  if (text.length <= max) return text;
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
};

/** Strict UTF-8: bytes that are not UTF-8 (or encode a lone surrogate) throw rather than become U+FFFD. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const NOT_UTF8 = 'must be UTF-8 text; received bytes that are not';

export const MEDIA_TYPES = {
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
} as const;
export type BodyKind = keyof typeof MEDIA_TYPES;

/** The parts of an HTTP API (payload 2.0) event that body parsing needs. */
export interface HttpRequest {
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
}

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** The parts of an HTTP API (payload 2.0) event that name its route. */
export interface RoutedRequest {
  readonly routeKey?: string;
  readonly rawPath?: string;
  readonly requestContext?: { readonly http?: { readonly method?: string } };
}

/**
 * The route a request came by, as `POST /send`: its route key, or its method and path when the
 * key says nothing (`$default`, or an event built by hand).
 */
export const routeOf = (event: RoutedRequest): string =>
  event.routeKey && event.routeKey !== '$default'
    ? event.routeKey
    : `${event.requestContext?.http?.method ?? ''} ${event.rawPath ?? ''}`;

/** A request header by name, whatever its case. */
export const header = (request: HttpRequest, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(request.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
};

/**
 * Reads a request body of one of the `accepted` kinds: JSON, or a URL-encoded form (as an object
 * of strings). Errors: 415 for another content type, 413 past `MAX_BODY_BYTES`, 400 for a body
 * that is missing or does not parse.
 */
export const readBody = (
  request: HttpRequest,
  accepted: readonly BodyKind[],
): { kind: BodyKind; value: unknown } => {
  const contentType = header(request, 'content-type');
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  const kind = accepted.find((k) => MEDIA_TYPES[k] === mediaType);
  if (!kind) {
    throw new UnsupportedMediaTypeError(
      contentType,
      accepted.map((k) => MEDIA_TYPES[k]),
    );
  }
  const raw = request.body ?? '';
  const bytes = request.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(
      'body',
      `must be at most ${MAX_BODY_BYTES} bytes; received ${bytes.length}`,
    );
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw ValidationError.field('body', NOT_UTF8);
  }
  if (text.trim() === '') throw ValidationError.field('body', 'is required; received nothing');
  return { kind, value: kind === 'json' ? parseJson(text) : parseForm(text) };
};

const parseJson = (text: string): unknown => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw ValidationError.field('body', 'expected valid JSON; the body does not parse');
  }
  // One rule with the form: a field given twice is refused, not silently overwritten.
  const problem = findJsonShapeProblem(text);
  if (problem?.kind === 'duplicate-key') {
    throw ValidationError.field(
      fieldPath(problem.path),
      'must be given once; received it more than once',
    );
  }
  if (problem?.kind === 'too-deep') {
    throw ValidationError.field(
      'body',
      `must nest arrays and objects at most ${MAX_JSON_DEPTH} levels deep; received more`,
    );
  }
  return value;
};

/**
 * One name or value of a URL-encoded form, decoded as `URLSearchParams` does (`+` is a space,
 * `%XX` a byte), except that bytes that are not UTF-8 are refused (`undefined`), where
 * `URLSearchParams` silently puts U+FFFD in their place.
 */
const decodeFormPart = (raw: string): string | undefined => {
  const text = raw.replace(/\+/g, ' ');
  if (!text.includes('%')) return text;
  const parts: Buffer[] = [];
  let last = 0;
  for (const match of text.matchAll(/%[0-9A-Fa-f]{2}/g)) {
    parts.push(Buffer.from(text.slice(last, match.index), 'utf8'));
    parts.push(Buffer.from([Number.parseInt(match[0].slice(1), 16)]));
    last = match.index + 3;
  }
  parts.push(Buffer.from(text.slice(last), 'utf8'));
  try {
    return UTF8.decode(Buffer.concat(parts));
  } catch {
    return undefined;
  }
};

const parseForm = (text: string): Record<string, string> => {
  const fields: Record<string, string> = {};
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = decodeFormPart(at < 0 ? pair : pair.slice(0, at));
    if (name === undefined) throw ValidationError.field('body', NOT_UTF8);
    const value = decodeFormPart(at < 0 ? '' : pair.slice(at + 1));
    if (value === undefined) throw ValidationError.field(truncate(name), NOT_UTF8);
    if (Object.hasOwn(fields, name)) {
      throw ValidationError.field(name, 'must be given once; received it more than once');
    }
    fields[name] = value;
  }
  return fields;
};

/** A JSON response. */
export const json = (
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  body: JSON.stringify(body),
});

/** The body of every error response. */
export interface ErrorBody {
  /**
   * On the refusals that API Gateway's JWT authorizer makes itself on AWS (401, and 403 for a
   * missing scope), its own body's field (`{"message":"Unauthorized"}`), so that a client reads
   * the same field offline as on AWS.
   */
  readonly message?: string;
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly field?: string;
    /** The first `ERROR_LIMITS.ISSUES` issues, when there are several. */
    readonly issues?: readonly { field: string; message: string }[];
    /** How many issues there are in all, when there are several. */
    readonly issueCount?: number;
    readonly requestId?: string;
  };
}

const fieldOf = (error: AppError): string | undefined =>
  error instanceof FieldError
    ? error.field
    : error instanceof ValidationError
      ? error.issues[0]?.field
      : undefined;

/**
 * What an error means to an HTTP client: a client error keeps its status, a passing fault
 * (`retriable`) is a 503; `undefined` for an error that is not ours to explain (a 500).
 */
const statusOf = (error: unknown): number | undefined =>
  isHttpError(error) ? error.status : isAppError(error) && error.retriable ? 503 : undefined;

/** Printable ASCII without `"` and `\`: safe inside a quoted header parameter. */
const quotable = (text: string): string => text.replace(/[^\x20-\x7e]|["\\]/g, "'");

/**
 * The `WWW-Authenticate` challenge of a refused token, in the form API Gateway's JWT authorizer
 * sends (`Bearer scope="" error="invalid_token" error_description="..."`, API Gateway developer
 * guide, `http-api-troubleshooting-jwt`). `undefined` for errors that are not about the token.
 */
export const challengeOf = (error: AppError): string | undefined => {
  if (error instanceof MissingTokenError) return 'Bearer';
  if (error instanceof InvalidTokenError) {
    return `Bearer scope="" error="invalid_token" error_description="${quotable(error.description)}"`;
  }
  if (error instanceof InsufficientScopeError) {
    return `Bearer scope="${error.requiredScopes.join(' ')}" error="insufficient_scope" error_description="the token does not have a valid scope"`;
  }
  return undefined;
};

/** The gateway's own `message` for the refusals it makes on AWS. */
const gatewayMessageOf = (error: AppError): string | undefined =>
  error instanceof MissingTokenError || error instanceof InvalidTokenError
    ? 'Unauthorized'
    : error instanceof InsufficientScopeError
      ? 'Forbidden'
      : undefined;

/**
 * The one mapping from errors to HTTP responses. `HttpError`s keep their status and message, a
 * `retriable` error is a 503 with its message; either says `Retry-After` when it knows how long
 * to wait. Anything else is logged and answered with a 500 that reveals nothing internal.
 */
export const errorResponse = (error: unknown, logger: Logger, requestId?: string): HttpResponse => {
  const status = statusOf(error);
  if (status !== undefined && isAppError(error)) {
    if (status >= 500) logger.warn('request failed', { status, requestId, error });
    const field = fieldOf(error);
    const gatewayMessage = gatewayMessageOf(error);
    // Never much bigger than ERROR_LIMITS.MAX_BYTES, whatever the request held.
    const issues = error instanceof ValidationError ? error.issues : [];
    const body: ErrorBody = {
      ...(gatewayMessage ? { message: gatewayMessage } : {}),
      error: {
        code: error.code,
        message: truncate(error.message),
        ...(field ? { field: truncate(field) } : {}),
        ...(issues.length > 1
          ? {
              issues: issues.slice(0, ERROR_LIMITS.ISSUES).map((issue) => ({
                field: truncate(issue.field),
                message: truncate(issue.message),
              })),
              issueCount: issues.length,
            }
          : {}),
        ...(requestId ? { requestId } : {}),
      },
    };
    const challenge = challengeOf(error);
    const headers: Record<string, string> =
      error.retryAfterSeconds !== undefined
        ? { 'retry-after': String(error.retryAfterSeconds) }
        : challenge
          ? { 'www-authenticate': challenge }
          : {};
    return json(status, body, headers);
  }
  logger.error('unexpected error', { requestId, error });
  const body: ErrorBody = {
    error: {
      code: 'internal_error',
      message:
        'An unexpected error occurred. It has been logged; quote the request id if you report it.',
      ...(requestId ? { requestId } : {}),
    },
  };
  return json(500, body);
};

/**
 * The frame of every HTTP handler: the request context of `withRequestContext`, and whatever
 * `handle` throws answered by `errorResponse` with the request id. `handle` reads: parse, one
 * domain call, map the result to a response.
 */
export const httpHandler = <E, C extends LambdaContext = LambdaContext>(
  telemetry: Telemetry,
  handle: (event: E, request: RequestContext, context: C) => Promise<HttpResponse>,
) =>
  withRequestContext<E, C, HttpResponse>(telemetry, async (event, request, context) => {
    try {
      return await handle(event, request, context);
    } catch (error) {
      return errorResponse(error, telemetry.logger, request.requestId);
    }
  });
