/**
 * The application's errors. Each says what went wrong in words a client can act on; whether it
 * is the client's fault (an HTTP status) or a passing fault worth retrying (`retriable`). The
 * one place that turns them into HTTP responses is `shared/http.ts`.
 */

/** One problem with one field of a request. `field` is a path such as `toId` or `[3].message`. */
export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

export abstract class AppError extends Error {
  /** HTTP status to answer with. */
  abstract readonly status: number;
  /** Stable, machine-readable error code. */
  abstract readonly code: string;
  /** Whether trying the same thing again later may succeed. */
  readonly retriable: boolean = false;
}

/** 400: the request is malformed; `issues` names every field at fault. */
export class ValidationError extends AppError {
  override readonly name = 'ValidationError';
  readonly status = 400;
  readonly code = 'invalid_request';

  constructor(
    readonly issues: readonly FieldIssue[],
    options?: ErrorOptions,
  ) {
    const first = issues[0];
    super(first ? `${first.field}: ${first.message}` : 'The request is not valid.', options);
  }

  static field(field: string, message: string): ValidationError {
    return new ValidationError([{ field, message }]);
  }
}

/** 404: a user id that is not in the directory. */
export class UserNotFoundError extends AppError {
  override readonly name = 'UserNotFoundError';
  readonly status = 404;
  readonly code = 'user_not_found';

  constructor(
    readonly field: string,
    readonly userId: number,
  ) {
    super(`${field}: no user has id ${userId}.`);
  }
}

/** 413: the body or one of its messages is larger than allowed. */
export class PayloadTooLargeError extends AppError {
  override readonly name = 'PayloadTooLargeError';
  readonly status = 413;
  readonly code = 'payload_too_large';

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** 415: a content type the endpoint does not read. */
export class UnsupportedMediaTypeError extends AppError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly status = 415;
  readonly code = 'unsupported_media_type';

  constructor(received: string | undefined, allowed: readonly string[]) {
    super(
      `Content-Type must be ${allowed.join(' or ')}; received ${received ? `"${received}"` : 'none'}.`,
    );
  }
}

/** 503: a dependency (Kafka, the store) did not answer in time. Retry after `retryAfterSeconds`. */
export class ServiceUnavailableError extends AppError {
  override readonly name = 'ServiceUnavailableError';
  readonly status = 503;
  readonly code = 'service_unavailable';
  override readonly retriable = true;

  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A passing fault of a dependency (throttling, a 5xx, a timeout) met while processing a Kafka
 * batch. It fails the invocation so that the event source delivers the batch again.
 */
export class TransientError extends AppError {
  override readonly name = 'TransientError';
  readonly status = 503;
  readonly code = 'service_unavailable';
  override readonly retriable = true;
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;
