import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/list-notifications/handler.js';
import { RetriableError } from '../../shared/errors.js';
import { decodeCursor, encodeCursor } from '../../shared/inbox/cursor.js';
import type { InboxPage, InboxReader, ListOptions } from '../../shared/inbox/types.js';
import {
  createNotification,
  DEFAULT_USERS,
  type InboxNotification,
  UserDirectory,
} from '../../shared/models/index.js';
import { asCaller, context, loadEvent, withoutToken } from '../helpers/events.js';
import { invokeLocal, onAws } from '../helpers/identity.js';
import { recordingLogger, silentLogger } from '../helpers/logger.js';

const emma = { id: 1, name: 'Emma' };
const bruno = { id: 2, name: 'Bruno' };
const notifications: InboxNotification[] = [
  {
    ...createNotification(
      bruno,
      emma,
      'Bruno liked your photo.',
      new Date('2026-11-24T12:00:01.000Z'),
    ),
    read: false,
  },
  {
    ...createNotification(
      bruno,
      emma,
      'Bruno started following you.',
      new Date('2026-11-24T12:00:00.000Z'),
    ),
    read: true,
  },
];
const NEXT = encodeCursor({
  userId: 1,
  id: '3f1c2b0e-5d4a-4e8f-9b7c-1a2d3e4f5a6b',
  timeline: '2026-11-24T12:00:00.000Z#00000#00000000000000000007',
});

/** Records each call; answers with `page`, checking cursors as the real store does. */
class FakeInbox implements InboxReader {
  readonly calls: { userId: number; options: ListOptions }[] = [];
  page: InboxPage = { notifications, unreadCount: 1, nextCursor: NEXT };
  failure: Error | undefined;
  /** Stands for what the real store logs through the function's logger. */
  onList: (() => void) | undefined;

  async list(userId: number, options: ListOptions): Promise<InboxPage> {
    this.calls.push({ userId, options });
    this.onList?.();
    if (this.failure) throw this.failure;
    if (options.cursor !== undefined) decodeCursor(options.cursor, userId);
    return this.page;
  }
}

/** The handler on AWS (claims verified by API Gateway), or on the local stage in demo mode. */
const setup = (logger = silentLogger(), { demo = false } = {}) => {
  const inbox = new FakeInbox();
  const handler = createHandler({
    inbox,
    users: new UserDirectory(DEFAULT_USERS),
    authenticator: demo ? invokeLocal() : onAws(),
    logger,
  });
  return { inbox, handler };
};

/**
 * The sample `events/list-notifications.json` for `userId`, with `query` as its query string,
 * asked by `callerId` (by default the user whose inbox it is, when that is an id).
 */
const listEvent = (
  userId: string,
  query: Record<string, string> | undefined,
  callerId: number | string = /^[1-9]\d*$/.test(userId) ? userId : 1,
): APIGatewayProxyEventV2 => {
  const event = asCaller(loadEvent<APIGatewayProxyEventV2>('list-notifications.json'), callerId);
  const path = `/notifications/${encodeURIComponent(userId)}`;
  event.pathParameters = { userId };
  event.rawPath = path;
  event.requestContext.http.path = path;
  event.rawQueryString = new URLSearchParams(query).toString();
  if (query) event.queryStringParameters = query;
  else delete event.queryStringParameters;
  return event;
};

const bodyOf = (response: { body?: string }) => JSON.parse(response.body ?? 'null');

describe('list-notifications handler', () => {
  it('answers the sample with 200, the page newest first and the next cursor', async () => {
    const { inbox, handler } = setup();
    const response = await handler(loadEvent('list-notifications.json'), context);
    expect(response.statusCode).toBe(200);
    expect(response.headers?.['content-type']).toMatch(/^application\/json/);
    expect(inbox.calls).toEqual([{ userId: 1, options: { limit: 2 } }]);
    expect(bodyOf(response)).toEqual({
      notifications: notifications.map((n) => ({
        id: n.id,
        from: { id: 2, name: 'Bruno' },
        to: { id: 1, name: 'Emma' },
        message: n.message,
        createdAt: n.createdAt,
        read: n.read,
      })),
      unreadCount: 1,
      nextCursor: NEXT,
    });
  });

  it('leaves nextCursor out of the last page', async () => {
    const { inbox, handler } = setup();
    inbox.page = { notifications: [], unreadCount: 0 };
    const response = await handler(listEvent('3', undefined), context);
    expect(response.statusCode).toBe(200);
    expect(bodyOf(response)).toEqual({ notifications: [], unreadCount: 0 });
  });

  it('passes the cursor of the previous page on', async () => {
    const { inbox, handler } = setup();
    const response = await handler(listEvent('1', { cursor: NEXT }), context);
    expect(response.statusCode).toBe(200);
    expect(inbox.calls[0]?.options).toEqual({ limit: 20, cursor: NEXT });
  });

  it.each([
    ['no limit', undefined, 20],
    ['limit=1', { limit: '1' }, 1],
    ['limit=100, the largest', { limit: '100' }, 100],
  ])('asks the store for a page of the right size given %s', async (_, query, limit) => {
    const { inbox, handler } = setup();
    expect((await handler(listEvent('1', query), context)).statusCode).toBe(200);
    expect(inbox.calls[0]?.options.limit).toBe(limit);
  });

  it.each([
    [
      'the invalid sample',
      'userId',
      loadEvent<APIGatewayProxyEventV2>('list-notifications-invalid.json'),
      'expected a user id (a positive whole number, such as 1); received "emma"',
    ],
    [
      'user id 0',
      'userId',
      listEvent('0', undefined),
      'expected a user id (a positive whole number, such as 1); received "0"',
    ],
    [
      'a fractional user id',
      'userId',
      listEvent('1.5', undefined),
      'expected a user id (a positive whole number, such as 1); received "1.5"',
    ],
    [
      'limit=0',
      'limit',
      listEvent('1', { limit: '0' }),
      'expected a whole number from 1 to 100; received "0"',
    ],
    [
      'limit=101',
      'limit',
      listEvent('1', { limit: '101' }),
      'expected a whole number from 1 to 100; received "101"',
    ],
    [
      'limit=ten',
      'limit',
      listEvent('1', { limit: 'ten' }),
      'expected a whole number from 1 to 100; received "ten"',
    ],
    [
      'limit given twice (API Gateway joins them with a comma)',
      'limit',
      listEvent('1', { limit: '5,10' }),
      'expected a whole number from 1 to 100; received "5,10"',
    ],
    [
      'an empty cursor',
      'cursor',
      listEvent('1', { cursor: '' }),
      'expected the nextCursor of an earlier page; received ""',
    ],
    [
      'a cursor that is not one',
      'cursor',
      listEvent('1', { cursor: 'page-2' }),
      'expected the nextCursor of an earlier page, unchanged; received "page-2"',
    ],
    [
      "another user's cursor",
      'cursor',
      listEvent('2', { cursor: NEXT }),
      "was issued for another user's notifications; expected a nextCursor from user 2's",
    ],
    [
      'an unknown query parameter',
      'page',
      listEvent('1', { page: '2' }),
      'is not a known field; expected limit, cursor',
    ],
  ])('answers 400 to %s, naming %s', async (_, field, event, message) => {
    const { handler } = setup();
    const response = await handler(event, context);
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error).toEqual({
      code: 'invalid_request',
      message: `${field}: ${message}`,
      field,
      requestId: context.awsRequestId,
    });
  });

  it('names every field at fault at once, asking the store nothing', async () => {
    const { inbox, handler } = setup();
    const response = await handler(listEvent('x', { limit: '0' }), context);
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).error.issues.map((i: { field: string }) => i.field)).toEqual([
      'userId',
      'limit',
    ]);
    expect(inbox.calls).toHaveLength(0);
  });

  it("answers 403 to another user's inbox, whether or not it exists, asking the store nothing", async () => {
    const { inbox, handler } = setup();
    for (const userId of ['2', '99']) {
      const response = await handler(listEvent(userId, undefined, 1), context);
      expect(response.statusCode, userId).toBe(403);
      expect(bodyOf(response).error).toMatchObject({ code: 'forbidden', field: 'userId' });
      expect(response.body).not.toContain('notifications');
    }
    expect(inbox.calls).toHaveLength(0);
  });

  it("reads the caller's own inbox on GET /me/notifications", async () => {
    const { inbox, handler } = setup();
    const response = await handler(asCaller(loadEvent('list-my-notifications.json'), 4), context);
    expect(response.statusCode).toBe(200);
    expect(inbox.calls).toEqual([{ userId: 4, options: { limit: 2 } }]);
  });

  it('refuses GET /me/notifications without a token, even in demo mode', async () => {
    const { inbox, handler } = setup(silentLogger(), { demo: true });
    const response = await handler(withoutToken(loadEvent('list-my-notifications.json')), context);
    expect(response.statusCode).toBe(401);
    expect(inbox.calls).toHaveLength(0);
  });

  it("lets the demo's tokenless GET in, in demo mode only", async () => {
    const demo = setup(silentLogger(), { demo: true });
    expect((await demo.handler(withoutToken(listEvent('3', undefined)), context)).statusCode).toBe(
      200,
    );
    expect(demo.inbox.calls[0]?.userId).toBe(3);
    const aws = setup();
    const refused = await aws.handler(withoutToken(listEvent('3', undefined)), context);
    expect(refused.statusCode).toBe(401);
    expect(aws.inbox.calls).toHaveLength(0);
  });

  it('answers 404 to a demo request for a user who is not in the directory, asking the store nothing', async () => {
    const { inbox, handler } = setup(silentLogger(), { demo: true });
    const response = await handler(withoutToken(listEvent('99', undefined)), context);
    expect(response.statusCode).toBe(404);
    expect(bodyOf(response).error).toMatchObject({
      code: 'user_not_found',
      field: 'userId',
      message: 'userId: no user has id 99.',
    });
    expect(inbox.calls).toHaveLength(0);
  });

  it('answers 503 with Retry-After when the store is unavailable', async () => {
    const { inbox, handler } = setup();
    inbox.failure = new RetriableError('The notification store did not answer.', {
      retryAfterSeconds: 1,
    });
    const response = await handler(loadEvent('list-notifications.json'), context);
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('1');
    expect(bodyOf(response).error.code).toBe('service_unavailable');
  });

  it('answers 500 to an unexpected failure without revealing it', async () => {
    const { inbox, handler } = setup();
    inbox.failure = new Error('The inbox item 1/2026-11-24T12 is not a valid notification');
    const response = await handler(loadEvent('list-notifications.json'), context);
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('inbox item');
  });

  it('puts the request id on every line logged while it answers, and only then', async () => {
    const { logger, lines } = recordingLogger();
    const { inbox, handler } = setup(logger);
    inbox.onList = () => logger.info('reading the inbox');
    expect((await handler(loadEvent('list-notifications.json'), context)).statusCode).toBe(200);
    logger.info('between requests');
    expect(lines.map((l) => [l.message, l.requestId])).toEqual([
      ['reading the inbox', context.awsRequestId],
      ['between requests', undefined],
    ]);
  });
});
