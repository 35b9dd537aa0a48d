import { describe, expect, it } from 'vitest';
import {
  DEMO_SEND_FIELDS,
  DemoSendRequestSchema,
  MAX_BATCH_SIZE,
  SEND_FIELDS,
  SendBodySchema,
  toFieldIssues,
} from '../../shared/models/index.js';

const issuesOf = (body: unknown) => {
  const parsed = SendBodySchema.safeParse(body);
  if (parsed.success) throw new Error('expected the body to be invalid');
  return toFieldIssues(parsed.error, body, Object.values(SEND_FIELDS));
};

describe('POST /notifications body', () => {
  it('accepts one notification, taking ids as numbers or digit strings', () => {
    expect(SendBodySchema.parse({ fromId: 2, toId: '1', message: 'hi' })).toEqual({
      fromId: 2,
      toId: 1,
      message: 'hi',
    });
  });

  it(`accepts an array of 1 to ${MAX_BATCH_SIZE}`, () => {
    const item = { fromId: 1, toId: 2, message: 'hi' };
    expect(SendBodySchema.safeParse([item]).success).toBe(true);
    expect(SendBodySchema.safeParse(Array(MAX_BATCH_SIZE).fill(item)).success).toBe(true);
  });

  it.each([
    [
      { fromId: 'two', toId: 1, message: 'hi' },
      'fromId',
      'expected a user id (a positive whole number, such as 1); received "two"',
    ],
    [
      { fromId: 1.5, toId: 1, message: 'hi' },
      'fromId',
      'expected a user id (a positive whole number, such as 1); received 1.5',
    ],
    [
      { fromId: -1, toId: 1, message: 'hi' },
      'fromId',
      'expected a user id (a positive whole number, such as 1); received -1',
    ],
    [
      { fromId: 1, message: 'hi' },
      'toId',
      'is required; expected a user id (a positive whole number, such as 1)',
    ],
    [
      { fromId: 1, toId: 2, message: '  ' },
      'message',
      'expected a non-empty text message; received "  "',
    ],
    [
      { fromId: 1, toId: 2, message: 42 },
      'message',
      'expected a non-empty text message; received 42',
    ],
    [
      { fromId: 1, toId: 2, message: 'hi', to: 3 },
      'to',
      'is not a known field; expected fromId, toId, message',
    ],
    ['hello', 'body', 'expected a notification object or an array of them; received "hello"'],
    [null, 'body', 'expected a notification object or an array of them; received null'],
    [[], 'body', 'expected at least one notification; received []'],
  ])('rejects %j naming field %s', (body, field, message) => {
    expect(issuesOf(body)).toContainEqual({ field, message });
  });

  it('names the item of a batch at fault', () => {
    const issues = issuesOf([
      { fromId: 1, toId: 2, message: 'ok' },
      { fromId: 1, toId: 'nobody', message: 'ok' },
    ]);
    expect(issues).toEqual([
      {
        field: '[1].toId',
        message: 'expected a user id (a positive whole number, such as 1); received "nobody"',
      },
    ]);
  });

  it(`rejects more than ${MAX_BATCH_SIZE} notifications`, () => {
    const item = { fromId: 1, toId: 2, message: 'hi' };
    const issues = issuesOf(Array(MAX_BATCH_SIZE + 1).fill(item));
    expect(issues[0]?.field).toBe('body');
    expect(issues[0]?.message).toMatch(/^expected at most 500 notifications/);
  });
});

describe('POST /send (the demo) body', () => {
  it('reads the demo form fields fromID, toID and message', () => {
    expect(
      DemoSendRequestSchema.parse({
        fromID: '2',
        toID: '1',
        message: 'Bruno started following you.',
      }),
    ).toEqual({ fromId: 2, toId: 1, message: 'Bruno started following you.' });
  });

  it('names the demo field in errors', () => {
    const body = { fromID: '2', toID: 'x', message: 'hi' };
    const parsed = DemoSendRequestSchema.safeParse(body);
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(toFieldIssues(parsed.error, body, Object.values(DEMO_SEND_FIELDS))).toEqual([
      {
        field: 'toID',
        message: 'expected a user id (a positive whole number, such as 1); received "x"',
      },
    ]);
  });
});
