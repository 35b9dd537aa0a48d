import { describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/send-notification/handler.js';
import { RetriableError } from '../../shared/errors.js';
import type { NotificationPublisher, Placement } from '../../shared/kafka/publisher.js';
import { ANSWER_MARGIN_MS } from '../../shared/lambda.js';
import { DEFAULT_USERS, type Notification, UserDirectory } from '../../shared/models/index.js';
import { asCaller, context, httpEvent, loadEvent, withoutToken } from '../helpers/events.js';
import { invokeLocal, onAws } from '../helpers/identity.js';
import { silentLogger } from '../helpers/logger.js';
import { recordingMetrics, valuesOf } from '../helpers/metrics.js';

/** Records what it is asked to publish; places every record on partition 0 in order. */
class FakePublisher implements NotificationPublisher {
  readonly published: Notification[][] = [];
  readonly timeouts: (number | undefined)[] = [];
  failure: Error | undefined;

  async publish(
    notifications: readonly Notification[],
    options: { timeoutMs?: number } = {},
  ): Promise<Placement[]> {
    this.timeouts.push(options.timeoutMs);
    if (this.failure) throw this.failure;
    this.published.push([...notifications]);
    return notifications.map((_, i) => ({ partition: 0, offset: String(i) }));
  }
}

/** The handler on AWS (claims verified by API Gateway), or on the local stage in demo mode. */
const setup = ({ demo = false } = {}) => {
  const publisher = new FakePublisher();
  const { metrics, lines: emf } = recordingMetrics();
  const handler = createHandler({
    publisher,
    users: new UserDirectory(DEFAULT_USERS),
    authenticator: demo ? invokeLocal() : onAws(),
    logger: silentLogger(),
    metrics,
    now: () => new Date('2026-11-24T12:00:00.000Z'),
  });
  return { publisher, handler, emf };
};

const bodyOf = (response: { body?: string }) => JSON.parse(response.body ?? 'null');

describe('send-notification handler', () => {
  it('accepts the JSON sample with 202, its id and placement', async () => {
    const { publisher, handler } = setup();
    const response = await handler(loadEvent('send-json.json'), context);
    expect(response.statusCode).toBe(202);
    const [notification] = publisher.published[0] ?? [];
    expect(notification).toMatchObject({
      from: { id: 2, name: 'Bruno' },
      to: { id: 1, name: 'Emma' },
      message: 'Bruno started following you.',
      createdAt: '2026-11-24T12:00:00.000Z',
    });
    expect(bodyOf(response)).toEqual({ id: notification?.id, partition: 0, offset: '0' });
  });

  it('publishes within the time the invocation has left, less a margin to answer in', async () => {
    const { publisher, handler } = setup();
    await handler(loadEvent('send-json.json'), {
      ...context,
      getRemainingTimeInMillis: () => 3_000,
    });
    await handler(loadEvent('send-json.json'), { ...context, getRemainingTimeInMillis: () => 200 });
    await handler(loadEvent('send-json.json'), context);
    expect(publisher.timeouts).toEqual([3_000 - ANSWER_MARGIN_MS, 0, undefined]);
  });

  it('accepts the demo form sample on POST /send', async () => {
    const { publisher, handler } = setup();
    const response = await handler(loadEvent('send-form.json'), context);
    expect(response.statusCode).toBe(202);
    expect(publisher.published[0]?.[0]).toMatchObject({ from: { id: 2 }, to: { id: 1 } });
  });

  it('accepts the demo fields as JSON on POST /send, from the caller', async () => {
    const { publisher, handler } = setup();
    const event = asCaller(httpEvent('POST /send', { fromID: 3, toID: 4, message: 'hi' }), 3);
    expect((await handler(event, context)).statusCode).toBe(202);
    const noSender = asCaller(httpEvent('POST /send', { toID: 4, message: 'hi' }), 3);
    expect((await handler(noSender, context)).statusCode).toBe(202);
    expect(publisher.published.map((p) => p[0]?.from.id)).toEqual([3, 3]);
  });

  it('publishes a batch in one call, every item from the caller, and lists every receipt', async () => {
    const { publisher, handler } = setup();
    const response = await handler(loadEvent('send-batch.json'), context);
    expect(response.statusCode).toBe(202);
    expect(publisher.published).toHaveLength(1);
    const ids = publisher.published[0]?.map((n) => n.id);
    expect(bodyOf(response).notifications.map((r: { id: string }) => r.id)).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
    expect(publisher.published[0]?.map((n) => [n.from.id, n.to.id])).toEqual([
      [2, 1],
      [2, 3],
      [2, 4],
    ]);
  });

  it("lets the demo's tokenless form in, in demo mode only, and needs its sender then", async () => {
    const demo = setup({ demo: true });
    const form = () => withoutToken(loadEvent<ReturnType<typeof httpEvent>>('send-form.json'));
    expect((await demo.handler(form(), context)).statusCode).toBe(202);
    expect(demo.publisher.published[0]?.[0]).toMatchObject({ from: { id: 2 }, to: { id: 1 } });
    const noSender = withoutToken(httpEvent('POST /send', { toID: 4, message: 'hi' }));
    const missing = await demo.handler(noSender, context);
    expect(missing.statusCode).toBe(400);
    expect(bodyOf(missing).error.field).toBe('fromID');
    const aws = setup();
    const refused = await aws.handler(form(), context);
    expect(refused.statusCode).toBe(401);
    expect(refused.headers?.['www-authenticate']).toBe('Bearer');
    expect(aws.publisher.published).toHaveLength(0);
  });

  it('refuses a tokenless POST /notifications even in demo mode', async () => {
    const { publisher, handler } = setup({ demo: true });
    const response = await handler(withoutToken(loadEvent('send-json.json')), context);
    expect(response.statusCode).toBe(401);
    expect(bodyOf(response)).toMatchObject({
      message: 'Unauthorized',
      error: { code: 'unauthorized' },
    });
    expect(publisher.published).toHaveLength(0);
  });

  it.each([
    ['a user the directory lacks', 99, 403, 'forbidden'],
    ['a username that is not an id', 'emma', 401, 'invalid_token'],
  ])('refuses claims of %s before reading the body', async (_, username, status, code) => {
    const { publisher, handler } = setup();
    const response = await handler(asCaller(loadEvent('send-invalid.json'), username), context);
    expect(response.statusCode).toBe(status);
    expect(bodyOf(response).error.code).toBe(code);
    expect(publisher.published).toHaveLength(0);
  });

  it.each([
    ['the invalid sample', loadEvent('send-invalid.json'), 400, 'fromId'],
    [
      'an unknown recipient',
      httpEvent('POST /notifications', { toId: 99, message: 'x' }),
      404,
      'toId',
    ],
    [
      'another sender than the caller',
      httpEvent('POST /notifications', { fromId: 1, toId: 3, message: 'x' }),
      403,
      'fromId',
    ],
    [
      'another sender in one item of a batch',
      httpEvent('POST /notifications', [
        { fromId: 2, toId: 1, message: 'x' },
        { fromId: 7, toId: 1, message: 'x' },
      ]),
      403,
      '[1].fromId',
    ],
    [
      'another sender on the demo form',
      httpEvent('POST /send', 'fromID=4&toID=1&message=x', 'application/x-www-form-urlencoded'),
      403,
      'fromID',
    ],
    [
      'a message over 2,000 characters',
      httpEvent('POST /notifications', { toId: 1, message: 'x'.repeat(2001) }),
      413,
      'message',
    ],
    [
      'a form on POST /notifications',
      httpEvent('POST /notifications', 'fromId=1', 'application/x-www-form-urlencoded'),
      415,
      undefined,
    ],
    [
      'a demo field on POST /notifications',
      httpEvent('POST /notifications', { fromID: 2, toId: 1, message: 'x' }),
      400,
      'fromID',
    ],
    [
      'a form field with the wrong case on POST /send',
      httpEvent('POST /send', 'fromId=2&toID=1&message=x', 'application/x-www-form-urlencoded'),
      400,
      'fromId',
    ],
  ])('rejects %s with %i naming %s, publishing nothing', async (_, event, status, field) => {
    const { publisher, handler } = setup();
    const response = await handler(event, context);
    expect(response.statusCode).toBe(status);
    const { error } = bodyOf(response);
    expect(error.field).toBe(field);
    expect(error.message).toEqual(expect.any(String));
    expect(publisher.published).toHaveLength(0);
  });

  it('rejects the whole batch when one item is invalid', async () => {
    const { publisher, handler } = setup();
    const batch = [
      { toId: 1, message: 'fine' },
      { toId: 1, message: 'x'.repeat(2001) },
    ];
    const response = await handler(httpEvent('POST /notifications', batch), context);
    expect(response.statusCode).toBe(413);
    expect(bodyOf(response).error.field).toBe('[1].message');
    expect(publisher.published).toHaveLength(0);
  });

  it('answers 503 with Retry-After when Kafka is unavailable', async () => {
    const { publisher, handler } = setup();
    publisher.failure = new RetriableError('Kafka is away', { retryAfterSeconds: 5 });
    const response = await handler(loadEvent('send-json.json'), context);
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('5');
  });

  it('answers 500 to an unexpected failure without revealing it', async () => {
    const { publisher, handler } = setup();
    publisher.failure = new TypeError("Cannot read properties of undefined (reading 'baseOffset')");
    const response = await handler(loadEvent('send-json.json'), context);
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('baseOffset');
    expect(bodyOf(response).error.requestId).toBe(context.awsRequestId);
  });
});

describe('send-notification metrics', () => {
  // From the caller of the sample event's claims.
  const batch = [
    { toId: 1, message: 'one' },
    { toId: 3, message: 'two' },
    { toId: 4, message: 'three' },
  ];

  it('writes one EMF line per request: its size and what it published', async () => {
    const { handler, emf } = setup();
    await handler(httpEvent('POST /notifications', batch), context);
    await handler(loadEvent('send-json.json'), context);
    expect(emf.map(valuesOf)).toEqual([
      { NotificationsPerRequest: 3, NotificationsPublished: 3 },
      { NotificationsPerRequest: 1, NotificationsPublished: 1 },
    ]);
    expect(emf[0]?._aws.CloudWatchMetrics[0]).toEqual({
      Namespace: 'tests',
      Dimensions: [['service']],
      Metrics: [
        { Name: 'NotificationsPerRequest', Unit: 'Count' },
        { Name: 'NotificationsPublished', Unit: 'Count' },
      ],
    });
    expect(emf[0]?.service).toBe('notifications');
  });

  it('counts a valid request Kafka did not take, but nothing as published', async () => {
    const { publisher, handler, emf } = setup();
    publisher.failure = new RetriableError('Kafka is away', { retryAfterSeconds: 5 });
    await handler(httpEvent('POST /notifications', batch), context);
    expect(emf.map(valuesOf)).toEqual([{ NotificationsPerRequest: 3 }]);
  });

  it('writes nothing for a request that is not valid', async () => {
    const { handler, emf } = setup();
    await handler(httpEvent('POST /notifications', { fromId: 1 }), context);
    expect(emf).toEqual([]);
  });
});
