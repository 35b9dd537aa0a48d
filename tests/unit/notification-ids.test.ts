import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  NOTIFICATION_ID_NAMESPACE,
  nameBasedUuid,
  notificationIds,
} from '../../shared/idempotency/notification-ids.js';
import { NotificationIdSchema } from '../../shared/models/index.js';

const payload = {
  route: 'POST /notifications',
  requests: [
    { fromId: 2, toId: 1, message: 'hello' },
    { fromId: 2, toId: 3, message: 'hello' },
  ],
};
const request = { scope: 'user-2', key: 'key-1', payload };

/** Version and variant of a UUID in its text form. */
const versionOf = (uuid: string) => uuid[14];
const variantOf = (uuid: string) => Number.parseInt(uuid[19] ?? '0', 16) >> 2;

describe('nameBasedUuid', () => {
  it("gives RFC 9562's name-based version 8 example (SHA-256, DNS namespace, www.example.com)", () => {
    // RFC 9562, appendix B.2.
    expect(nameBasedUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '5c146b14-3c52-8afd-938a-375d0df1fbf6',
    );
  });

  it('is a valid notification id, version 8 and variant 10', () => {
    const id = nameBasedUuid(NOTIFICATION_ID_NAMESPACE, 'x');
    expect(NotificationIdSchema.safeParse(id).success).toBe(true);
    expect(versionOf(id)).toBe('8');
    expect(variantOf(id)).toBe(0b10);
  });
});

describe('notificationIds', () => {
  it('derives the same ids for a retry of the same request, one per index', () => {
    const first = notificationIds(request);
    const retry = notificationIds({ ...request, payload: structuredClone(payload) });
    expect([retry(0), retry(1)]).toEqual([first(0), first(1)]);
    expect(first(0)).not.toBe(first(1));
    expect(NotificationIdSchema.safeParse(first(0)).success).toBe(true);
  });

  it('does not depend on the order of the fields the client sent', () => {
    const reordered = {
      requests: payload.requests.map(({ message, toId, fromId }) => ({ message, toId, fromId })),
      route: payload.route,
    };
    expect(notificationIds({ ...request, payload: reordered })(0)).toBe(
      notificationIds(request)(0),
    );
  });

  it.each([
    ['another caller (scope)', { ...request, scope: 'user-3' }],
    ['another key', { ...request, key: 'key-2' }],
    [
      'another message under the same key',
      {
        ...request,
        payload: { ...payload, requests: [{ ...payload.requests[0], message: 'bye' }] },
      },
    ],
    ['another route', { ...request, payload: { ...payload, route: 'POST /send' } }],
    [
      'the same notifications in another order',
      { ...request, payload: { ...payload, requests: [...payload.requests].reverse() } },
    ],
  ])('never gives %s the first request’s ids', (_, other) => {
    const first = notificationIds(request);
    const ids = notificationIds(other);
    expect([ids(0), ids(1)]).not.toContain(first(0));
    expect([ids(0), ids(1)]).not.toContain(first(1));
  });

  it('keeps the parts of the name apart: a key with the scope in it is another name', () => {
    const a = notificationIds({ scope: 'user-1', key: '2:k', payload })(0);
    const b = notificationIds({ scope: 'user-1:2', key: 'k', payload })(0);
    expect(a).not.toBe(b);
  });
});

describe('canonicalJson', () => {
  it('sorts object keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 'x' }, 3] })).toBe(
      '{"a":[{"c":"x","d":2},3],"b":1}',
    );
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
  });
});
