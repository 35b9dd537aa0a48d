import { ValidationError } from '../errors.js';
import { type TimelinePosition, TimelinePositionSchema } from './inbox-table.js';
import { MAX_CURSOR_CHARS } from './limits.js';

/**
 * The cursor of a page of an inbox: opaque to clients, the base64url of the JSON of the place in
 * the timeline (the `timeline` index's key) that the page starts after.
 */

/** The opaque cursor for a page that starts after `position`: base64url of its JSON. */
export const encodeCursor = (position: TimelinePosition): string =>
  Buffer.from(
    JSON.stringify({ userId: position.userId, id: position.id, timeline: position.timeline }),
    'utf8',
  ).toString('base64url');

/**
 * The place a cursor starts after. Only a cursor this store issued for `userId`'s inbox is
 * accepted; anything else is a 400 on field `cursor`.
 */
export const decodeCursor = (cursor: string, userId: number): TimelinePosition => {
  const received = cursor.length > 40 ? `${cursor.slice(0, 37)}...` : cursor;
  const invalid = () =>
    ValidationError.field(
      'cursor',
      `expected the nextCursor of an earlier page, unchanged; received "${received}"`,
    );
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.toString('base64url') !== cursor) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = TimelinePositionSchema.safeParse(value);
  if (!parsed.success) throw invalid();
  if (parsed.data.userId !== userId) {
    throw ValidationError.field(
      'cursor',
      `was issued for another user's notifications; expected a nextCursor from user ${userId}'s`,
    );
  }
  return parsed.data;
};
