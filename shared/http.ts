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
  const text = bytes.toString('utf8');
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

const parseForm = (text: string): Record<string, string> => {
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(text)) {
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
    readonly issues?: readonly { field: string; message: string }[];
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
    const body: ErrorBody = {
      ...(gatewayMessage ? { message: gatewayMessage } : {}),
      error: {
        code: error.code,
        message: error.message,
        ...(field ? { field } : {}),
        ...(error instanceof ValidationError && error.issues.length > 1
          ? { issues: error.issues }
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
