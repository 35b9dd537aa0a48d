import * as z from 'zod/mini';
import { type FieldIssue, fieldPath } from '../errors.js';
import { isWellFormedText, NOT_WELL_FORMED } from './notification.js';

/** Most notifications accepted in one `POST /notifications` request. */
export const MAX_BATCH_SIZE = 500;

const USER_ID_EXPECTED = 'expected a user id (a positive whole number, such as 1)';
const MESSAGE_EXPECTED = 'expected a non-empty text message';

/** A user id given as a number (`2`) or as digits (`"2"`, as form fields always are). */
const userIdField = z.pipe(
  z.transform((v: unknown) =>
    typeof v === 'string' && /^\s*\d{1,15}\s*$/.test(v) ? Number(v) : v,
  ),
  z.int({ error: USER_ID_EXPECTED }).check(z.positive({ error: USER_ID_EXPECTED })),
);

/** Length is checked later, so that an over-long message gets 413 rather than 400. */
const messageField = z.string({ error: MESSAGE_EXPECTED }).check(
  z.refine((m) => m.trim().length > 0, { error: MESSAGE_EXPECTED }),
  z.refine(isWellFormedText, { error: NOT_WELL_FORMED, abort: true }),
);

/**
 * One notification to send, as `POST /notifications` takes it. The sender is the caller: `fromId`
 * may be left out, and must name the caller when given (checked by the use case, 403).
 */
export const SendRequestSchema = z.strictObject({
  fromId: z.optional(userIdField),
  toId: userIdField,
  message: messageField,
});
export type SendRequest = z.output<typeof SendRequestSchema>;

/** `POST /notifications` body: one request or an array of 1..500. */
export const SendBodySchema = z.union([
  SendRequestSchema,
  z
    .array(SendRequestSchema)
    .check(
      z.minLength(1, { error: 'expected at least one notification' }),
      z.maxLength(MAX_BATCH_SIZE, { error: `expected at most ${MAX_BATCH_SIZE} notifications` }),
    ),
]);

/** The demo's `POST /send` fields (`fromID`, `toID`, `message`), as a form or as JSON. */
export const DemoSendRequestSchema = z.pipe(
  z.strictObject({
    fromID: z.optional(userIdField),
    toID: userIdField,
    message: messageField,
  }),
  z.transform(({ fromID, toID, message }) => ({
    ...(fromID === undefined ? {} : { fromId: fromID }),
    toId: toID,
    message,
  })),
);

/** Page sizes of `GET /notifications/{userId}`. */
export const LIST_LIMITS = { DEFAULT: 20, MAX: 100 } as const;

const LIMIT_EXPECTED = `expected a whole number from 1 to ${LIST_LIMITS.MAX}`;
const CURSOR_EXPECTED = 'expected the nextCursor of an earlier page';

/** `GET /notifications/{userId}` path parameters. */
export const ListPathSchema = z.object({ userId: userIdField });

/** `GET /notifications/{userId}` query parameters: `limit` (1..100, default 20) and `cursor`. */
export const ListQuerySchema = z.strictObject({
  limit: z._default(
    z.pipe(
      z.transform((v: unknown) => (typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v)),
      z
        .int({ error: LIMIT_EXPECTED })
        .check(
          z.gte(1, { error: LIMIT_EXPECTED }),
          z.lte(LIST_LIMITS.MAX, { error: LIMIT_EXPECTED }),
        ),
    ),
    LIST_LIMITS.DEFAULT,
  ),
  cursor: z.optional(z.string().check(z.minLength(1, { error: CURSOR_EXPECTED }))),
});

/** The query parameters `GET /notifications/{userId}` reads. */
export const LIST_QUERY_FIELDS = ['limit', 'cursor'] as const;

/** A request for one page of a user's notifications: the path and the query together. */
export type ListRequest = z.output<typeof ListPathSchema> & z.output<typeof ListQuerySchema>;

/** Where each field of a `SendRequest` came from, so errors name the field the client sent. */
export type FieldNames = Readonly<Record<keyof SendRequest, string>>;
export const SEND_FIELDS: FieldNames = { fromId: 'fromId', toId: 'toId', message: 'message' };
export const DEMO_SEND_FIELDS: FieldNames = { fromId: 'fromID', toId: 'toID', message: 'message' };

const describe = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};

const valueAt = (root: unknown, path: readonly PropertyKey[]): unknown => {
  let value = root;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
};

/**
 * Turns zod issues into one sentence per field: what was expected and what was received.
 * A union's issues are reduced to the branch that matched the input's shape.
 */
export const toFieldIssues = (
  error: z.core.$ZodError,
  input: unknown,
  knownFields: readonly string[],
): FieldIssue[] => error.issues.flatMap((issue) => flatten(issue, input, [], knownFields));

const flatten = (
  issue: z.core.$ZodIssue,
  input: unknown,
  prefix: readonly PropertyKey[],
  knownFields: readonly string[],
): FieldIssue[] => {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union') {
    // Pick the branch for the input's shape: an array or a single object.
    const value = valueAt(input, path);
    if (value === null || typeof value !== 'object') {
      return [
        {
          field: fieldPath(path),
          message: `expected a notification object or an array of them; received ${describe(value)}`,
        },
      ];
    }
    const branch = Array.isArray(value) ? 1 : 0;
    const chosen = issue.errors[branch] ?? issue.errors[0] ?? [];
    return chosen.flatMap((i) => flatten(i, input, path, knownFields));
  }
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      field: fieldPath([...path, key]),
      message: `is not a known field; expected ${knownFields.join(', ')}`,
    }));
  }
  const value = valueAt(input, path);
  if (value === undefined && issue.code === 'invalid_type') {
    return [{ field: fieldPath(path), message: `is required; ${issue.message}` }];
  }
  return [{ field: fieldPath(path), message: `${issue.message}; received ${describe(value)}` }];
};
