/**
 * Every error the application throws for a condition it knows, in one place (as kafkajs keeps
 * its own in `src/errors.js`). Each sets `name` and a stable `code`, chains `cause`, and says what
 * it means rather than how to answer it: whether trying again later may succeed (`retriable`, as
 * kafkajs marks its errors, with `retryAfterSeconds` when the wait is known), and, for an error a
 * client can act on (`HttpError`), the status to answer with. A dependency's passing fault is a
 * `RetriableError` whoever meets it: the consumer fails its batch so that it is delivered again,
 * an HTTP route answers 503. The one place that turns errors into HTTP responses is
 * `shared/http.ts` (as middy's `http-error-handler` does); any other error reaching a response is
 * a 500 that reveals nothing internal.
 */

/** One problem with one field of a request. `field` is a path such as `toId` or `[3].message`. */
export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/** The base of every error of ours. */
export abstract class AppError extends Error {
  abstract override readonly name: string;
  /** Stable, machine-readable error code. */
  abstract readonly code: string;
  /** Whether trying the same thing again later may succeed. */
  readonly retriable: boolean = false;
  /** How long to wait before trying again, when the error knows. */
  declare readonly retryAfterSeconds?: number;
}

/** An error a client can act on: answered with its `status` and its message. */
export abstract class HttpError extends AppError {
  /** HTTP status to answer with. */
  abstract readonly status: number;
}

/**
 * Where a field is in a request: names and item indexes from its root, as zod paths are
 * (`['toId']`, `[3, 'message']`).
 */
export type FieldPath = readonly (string | number)[];

/** A field's path as clients read it: `toId`, `[3].toId`, `a.b`, or `body` for the root. */
export const fieldPath = (path: readonly PropertyKey[]): string => {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  }
  return out || 'body';
};

/**
 * An error about one field of a request: `field` names it as the response does, and the message
 * starts with it. A use case names a field in its own words (`[0, 'fromId']`); the adapter that
 * knows what its clients sent renames it with `at`.
 */
export abstract class FieldError extends HttpError {
  /** The field's path, as given. */
  readonly path: FieldPath;
  /** The field at fault: `toId`, `[3].message`, `Idempotency-Key`. */
  readonly field: string;

  constructor(
    at: string | FieldPath,
    /** What is wrong with the field, without its name. */
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    const path = typeof at === 'string' ? [at] : at;
    const field = fieldPath(path);
    super(`${field}: ${problem}`, options);
    this.path = path;
    this.field = field;
  }

  /** This error (same class, problem and cause) about the field at `path` instead. */
  at(path: FieldPath): this {
    const moved = Object.create(
      Object.getPrototypeOf(this),
      Object.getOwnPropertyDescriptors(this),
    ) as this;
    const field = fieldPath(path);
    return Object.defineProperties(moved, {
      path: { value: path },
      field: { value: field },
      message: { value: `${field}: ${this.problem}` },
    });
  }
}

/** 400: the request is malformed; `issues` names every field at fault. */
export class ValidationError extends HttpError {
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
export class UserNotFoundError extends FieldError {
  override readonly name = 'UserNotFoundError';
  readonly status = 404;
  readonly code = 'user_not_found';

  constructor(
    at: string | FieldPath,
    readonly userId: number,
  ) {
    super(at, `no user has id ${userId}.`);
  }
}

/**
 * 400: a field that this request must carry is missing (the demo's tokenless client must name its
 * sender).
 */
export class MissingFieldError extends FieldError {
  override readonly name = 'MissingFieldError';
  readonly status = 400;
  readonly code = 'invalid_request';
}

/**
 * 404: no notification with this id among the caller's own. Another user's notification gets the
 * same answer, so that an id never reveals that it exists.
 */
export class NotificationNotFoundError extends FieldError {
  override readonly name = 'NotificationNotFoundError';
  readonly status = 404;
  readonly code = 'notification_not_found';

  constructor(readonly notificationId: string) {
    super('id', `you have no notification with id "${notificationId}".`);
  }
}

/** 413: the body or one of its messages is larger than allowed. */
export class PayloadTooLargeError extends FieldError {
  override readonly name = 'PayloadTooLargeError';
  readonly status = 413;
  readonly code = 'payload_too_large';
}

/** 415: a content type the endpoint does not read. */
export class UnsupportedMediaTypeError extends HttpError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly status = 415;
  readonly code = 'unsupported_media_type';

  constructor(received: string | undefined, allowed: readonly string[]) {
    super(
      `Content-Type must be ${allowed.join(' or ')}; received ${received ? `"${received}"` : 'none'}.`,
    );
  }
}

/**
 * 409: a request with the same Idempotency-Key is still being processed. Retry after
 * `retryAfterSeconds`: the retry then gets that request's answer.
 */
export class IdempotencyKeyInUseError extends HttpError {
  override readonly name = 'IdempotencyKeyInUseError';
  readonly status = 409;
  readonly code = 'idempotency_key_in_use';
  override readonly retriable = true;

  constructor(
    override readonly retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(
      'Idempotency-Key: a request with this key is still being processed; retry shortly to get its answer.',
      options,
    );
  }
}

/**
 * 422: the Idempotency-Key was already used for a request with another body. A new notification
 * needs a new key (IETF draft `draft-ietf-httpapi-idempotency-key-header`).
 */
export class IdempotencyKeyReusedError extends FieldError {
  override readonly name = 'IdempotencyKeyReusedError';
  readonly status = 422;
  readonly code = 'idempotency_key_reused';

  constructor(options?: ErrorOptions) {
    super(
      'Idempotency-Key',
      'was already used for a different request; send a new key with a new notification.',
      options,
    );
  }
}

export interface RetriableErrorOptions extends ErrorOptions {
  /** How long to wait before trying again, when known: an HTTP answer's `Retry-After`. */
  readonly retryAfterSeconds?: number | undefined;
}

/**
 * A passing fault of a dependency (throttling, a 5xx, a timeout, a broker away): trying again
 * later may succeed. A Kafka batch that meets one fails its invocation, so that the event source
 * delivers it again; an HTTP request is answered 503, with `Retry-After` when
 * `retryAfterSeconds` is known (shared/http.ts).
 */
export class RetriableError extends AppError {
  override readonly name = 'RetriableError';
  readonly code = 'service_unavailable';
  override readonly retriable = true;
  override readonly retryAfterSeconds: number | undefined;

  constructor(message: string, { retryAfterSeconds, ...options }: RetriableErrorOptions = {}) {
    super(message, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The environment is not valid; the message names every variable at fault. */
export class ConfigError extends AppError {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_configuration';
}

/** Thrown by `withDeadline` when the work did not settle in time. */
export class DeadlineExceededError extends AppError {
  override readonly name = 'DeadlineExceededError';
  readonly code = 'deadline_exceeded';
  override readonly retriable = true;

  constructor(readonly timeoutMs: number) {
    super(`did not complete within ${timeoutMs} ms`);
  }
}

/** How a `SerialProducer` send failed, which says whether its records may have been written. */
export type SendFailure =
  /** A send failed and a new producer is not connected yet: refused at once, nothing sent. */
  | 'reconnecting'
  /** Its deadline passed while earlier sends held the producer: nothing sent. */
  | 'waited-too-long'
  /** Connecting failed or timed out: nothing sent. */
  | 'not-connected'
  /** The send failed or timed out under way: its records may or may not have been written. */
  | 'in-doubt';

/** A send that did not complete; `reason` says whether anything may have been written. */
export class KafkaSendError extends AppError {
  override readonly name = 'KafkaSendError';
  readonly code = 'kafka_send_failed';
  override readonly retriable = true;

  constructor(
    readonly reason: SendFailure,
    options?: ErrorOptions,
  ) {
    super(
      reason === 'in-doubt'
        ? 'Kafka did not confirm the write in time; it may or may not have been written'
        : `Kafka was not written to (${reason})`,
      options,
    );
  }

  /** Whether the records may have been written despite the failure. */
  get inDoubt(): boolean {
    return this.reason === 'in-doubt';
  }
}

/** An invocation's event is not a Kafka event (`aws:kafka` or `SelfManagedKafka`) at all. */
export class InvalidEventError extends AppError {
  override readonly name = 'InvalidEventError';
  readonly code = 'invalid_event';
}

/**
 * The broker acknowledged a write without an offset for every record (or a publisher answered
 * with fewer placements than it was given): the write cannot be confirmed to the client.
 */
export class IncompleteAcknowledgementError extends AppError {
  override readonly name = 'IncompleteAcknowledgementError';
  readonly code = 'incomplete_acknowledgement';
}

/** An inbox item read back from the store that is not what the consumer writes. */
export class InvalidInboxItemError extends AppError {
  override readonly name = 'InvalidInboxItemError';
  readonly code = 'invalid_inbox_item';
}

/**
 * A topic exists with fewer partitions than asked. Adding partitions moves keys to other
 * partitions and breaks per-recipient order, so it is an operator's decision.
 */
export class TooFewPartitionsError extends AppError {
  override readonly name = 'TooFewPartitionsError';
  readonly code = 'too_few_partitions';
}

/** The MSK cluster has no IAM listener (IAM auth is off on the cluster). */
export class NoIamBrokersError extends AppError {
  override readonly name = 'NoIamBrokersError';
  readonly code = 'no_iam_brokers';
}

/** CloudFormation could not be answered; the URL is left out (it is a credential). */
export class CustomResourceResponseError extends AppError {
  override readonly name = 'CustomResourceResponseError';
  readonly code = 'custom_resource_response_failed';
}

/**
 * Why a bearer token was refused. Each maps to the `error_description` of the `WWW-Authenticate`
 * challenge, worded as API Gateway words the one it publishes ("the token does not have a valid
 * audience", Troubleshooting JWT authorizers, `http-api-troubleshooting-jwt`).
 */
export const TOKEN_PROBLEMS = {
  malformed: 'the token is not a well-formed JWT',
  algorithm: 'the token is not signed with an allowed algorithm',
  key: "no key of the issuer matches the token's kid",
  signature: "the token's signature is not valid",
  expired: 'the token has expired',
  not_yet_valid: 'the token is not valid yet',
  issued_in_future: 'the token was issued in the future',
  issuer: 'the token does not have a valid issuer',
  audience: 'the token does not have a valid audience',
  user: 'the token does not name a user',
  token_use: 'the token is not an access token',
} as const;
export type TokenProblem = keyof typeof TOKEN_PROBLEMS;

/**
 * 401: a route that needs a token received none. The answer carries a bare `Bearer` challenge:
 * with no credentials there is no error to name (RFC 6750, section 3.1).
 */
export class MissingTokenError extends HttpError {
  override readonly name = 'MissingTokenError';
  readonly status = 401;
  readonly code = 'unauthorized';

  constructor() {
    super('This route needs a token: send "Authorization: Bearer <token>".');
  }
}

/**
 * 401: the token does not verify. `problem` says why; `description` is the sentence of the
 * `WWW-Authenticate` challenge. Neither ever quotes the token.
 */
export class InvalidTokenError extends HttpError {
  override readonly name = 'InvalidTokenError';
  readonly status = 401;
  readonly code = 'invalid_token';

  constructor(
    readonly problem: TokenProblem,
    readonly description: string = TOKEN_PROBLEMS[problem],
    options?: ErrorOptions,
  ) {
    super(`Invalid token: ${description}.`, options);
  }
}

/** 403: the token is valid but carries none of the scopes the route needs. */
export class InsufficientScopeError extends HttpError {
  override readonly name = 'InsufficientScopeError';
  readonly status = 403;
  readonly code = 'insufficient_scope';

  constructor(readonly requiredScopes: readonly string[]) {
    super(
      `The token has none of the scopes this route needs: ${Array.from(requiredScopes).join(', ')}.`,
    );
  }
}

/** 403: the token's user is known to the issuer, but is not a user of this service. */
export class ForbiddenError extends HttpError {
  override readonly name = 'ForbiddenError';
  readonly status = 403;
  readonly code = 'forbidden';
}

/**
 * 403: a field names another user where only the caller may stand (sending as another, reading
 * another's inbox).
 */
export class OtherUserError extends FieldError {
  override readonly name = 'OtherUserError';
  readonly status = 403;
  readonly code = 'forbidden';
}

/**
 * 429: the caller sent more notifications than its limit allows in the current window
 * (shared/limits/send-rate.ts); `retryAfterSeconds` says when the window ends.
 */
export class RateLimitedError extends HttpError {
  override readonly name = 'RateLimitedError';
  readonly status = 429;
  readonly code = 'rate_limited';
  override readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * 429: a WebSocket session that newer sessions of its user displaced while it was still opening
 * (past `SESSION_LIMITS.PER_USER` at once): its upgrade is refused.
 */
export class SessionLimitError extends HttpError {
  override readonly name = 'SessionLimitError';
  readonly status = 429;
  readonly code = 'session_limit';

  constructor(limit: number) {
    super(`This user opened more than ${limit} sessions at once: the oldest are closed.`);
  }
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;

export const isHttpError = (error: unknown): error is HttpError => error instanceof HttpError;
