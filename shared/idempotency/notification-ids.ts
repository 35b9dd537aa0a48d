import { createHash } from 'node:crypto';

/**
 * The ids of the notifications of a request with an `Idempotency-Key`, derived from the request
 * instead of drawn at random, so that a retry publishes the very notifications of the first
 * attempt.
 *
 * Why: the keys' table (guard.ts) remembers only requests answered 202. A publish that ended in a
 * 503 in doubt (Kafka may have written it after the deadline) leaves the key free, and the retry
 * publishes again. With the same ids, the inbox, keyed by id (shared/inbox/inbox-table.ts), stores the
 * second record as the same notification: the recipient sees it once, and the retry's 202 names
 * the ids the first attempt may have written.
 *
 * Each id is a name-based UUID, version 8 with SHA-256 as RFC 9562 (appendix B.2) shows it, of
 * the caller's scope, the key, a digest of the request, and the notification's index in it: a
 * retry of the same request gets the same ids; another caller with the same key, or the same key
 * with another request (which the guard refuses with 422 while it remembers the key), never gets
 * the first's. Random ids are version 4, so the two kinds never meet.
 */

/** The namespace of notification ids (a random UUID, fixed once: changing it changes every id). */
export const NOTIFICATION_ID_NAMESPACE = 'c4a4f8c3-7d5e-4b0f-9a51-2f3d8e6b1a70';

/** What one request's ids derive from. */
export interface IdempotentRequest {
  /** Whose key it is (a user's, or the demo's shared scope): keys are the client's choice. */
  readonly scope: string;
  /** The `Idempotency-Key`, unscoped. */
  readonly key: string;
  /** The request as the guard compares it (route and requests): plain JSON data. */
  readonly payload: unknown;
}

/**
 * JSON with every object's keys sorted, so that one request has one text whatever order its
 * fields came in. Plain JSON data only (as parsed from a request).
 */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
};

const sha256 = (...parts: readonly (string | Buffer)[]): Buffer => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** The 16 bytes of a UUID in its usual text form. */
const uuidBytes = (uuid: string): Buffer => Buffer.from(uuid.replaceAll('-', ''), 'hex');

/**
 * A name-based UUID version 8: SHA-256 of the namespace's 16 bytes and the name's UTF-8, its
 * first 128 bits with the version (8) and variant (10) bits set (RFC 9562, section 5.8 and
 * appendix B.2).
 */
export const nameBasedUuid = (namespace: string, name: string): string => {
  const bytes = sha256(uuidBytes(namespace), Buffer.from(name, 'utf8')).subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20, 32),
  ].join('-');
};

/** The id of each notification of `request`, by its index in the request (0 for a single one). */
export const notificationIds = ({
  scope,
  key,
  payload,
}: IdempotentRequest): ((index: number) => string) => {
  const digest = sha256(canonicalJson(payload)).toString('hex');
  return (index) =>
    nameBasedUuid(NOTIFICATION_ID_NAMESPACE, JSON.stringify([scope, key, digest, index]));
};
