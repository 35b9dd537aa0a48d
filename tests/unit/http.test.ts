import { describe, expect, it } from 'vitest';
import {
  PayloadTooLargeError,
  RetriableError,
  UnsupportedMediaTypeError,
  UserNotFoundError,
  ValidationError,
} from '../../shared/errors.js';
import {
  ERROR_LIMITS,
  errorResponse,
  MAX_BODY_BYTES,
  readBody,
  routeOf,
  truncate,
} from '../../shared/http.js';
import { silentLogger } from '../helpers/logger.js';

const request = (body: string, contentType?: string, isBase64Encoded = false) => ({
  headers: contentType ? { 'Content-Type': contentType } : {},
  body,
  isBase64Encoded,
});

describe('readBody', () => {
  it('parses JSON, whatever the charset parameter and header case', () => {
    expect(readBody(request('{"a":1}', 'application/json; charset=UTF-8'), ['json'])).toEqual({
      kind: 'json',
      value: { a: 1 },
    });
  });

  it('parses a base64-encoded form, as API Gateway delivers it', () => {
    const body = Buffer.from('fromID=2&toID=1&message=Bruno+started+following+you.').toString(
      'base64',
    );
    expect(
      readBody(request(body, 'application/x-www-form-urlencoded', true), ['form', 'json']).value,
    ).toEqual({ fromID: '2', toID: '1', message: 'Bruno started following you.' });
  });

  it.each([
    ['text/plain', 'Content-Type must be application/json; received "text/plain".'],
    [undefined, 'Content-Type must be application/json; received none.'],
  ])('answers 415 to content type %s', (contentType, message) => {
    expect(() => readBody(request('{}', contentType), ['json'])).toThrow(
      new UnsupportedMediaTypeError(contentType, ['application/json']),
    );
    expect(() => readBody(request('{}', contentType), ['json'])).toThrow(message);
  });

  it('answers 413 to a body over 256 KB, counting bytes not characters', () => {
    const body = `"${'é'.repeat(MAX_BODY_BYTES / 2)}"`;
    expect(() => readBody(request(body, 'application/json'), ['json'])).toThrow(
      PayloadTooLargeError,
    );
  });

  it.each([
    ['', 'body: is required; received nothing'],
    ['{"a":', 'body: expected valid JSON; the body does not parse'],
  ])('answers 400 to JSON body %j', (body, message) => {
    expect(() => readBody(request(body, 'application/json'), ['json'])).toThrow(message);
  });

  it.each([
    ['{"toId":1,"toId":2}', 'toId'],
    ['[{"fromId":1},{"fromId":2,"message":"a","message":"b"}]', '[1].message'],
    ['{"a":{"b":1,"\\u0062":2}}', 'a.b'],
  ])('answers 400 naming a JSON key given twice in %s', (body, field) => {
    expect(() => readBody(request(body, 'application/json'), ['json'])).toThrow(
      `${field}: must be given once; received it more than once`,
    );
  });

  it('accepts the same key in different objects, and keys that only look alike', () => {
    const body = '[{"toId":1,"s":"\\"toId\\""},{"toId":2,"toid":3}]';
    expect(readBody(request(body, 'application/json'), ['json']).value).toEqual([
      { toId: 1, s: '"toId"' },
      { toId: 2, toid: 3 },
    ]);
  });

  it.each([
    ['arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
    ['objects', `${'{"":'.repeat(50_000)}1${'}'.repeat(50_000)}`],
  ])('answers 400, not a stack overflow, to %s nested 50,000 to 100,000 deep', (_, body) => {
    expect(() => readBody(request(body, 'application/json'), ['json'])).toThrow(
      'body: must nest arrays and objects at most 32 levels deep; received more',
    );
  });

  it('decodes a form as URLSearchParams does (+, %XX, UTF-8), and refuses bytes that are not UTF-8', () => {
    const form = (body: string) =>
      readBody(request(body, 'application/x-www-form-urlencoded'), ['form']);
    expect(form('a=x+y%20%C3%A9%F0%9F%98%80&b=&c').value).toEqual({ a: 'x y é😀', b: '', c: '' });
    // A surrogate encoded as UTF-8 (CESU), a lone continuation byte, a truncated sequence.
    for (const bad of ['%ED%A0%80', '%80', '%C3']) {
      expect(() => form(`message=a${bad}b`)).toThrow(
        expect.objectContaining({
          issues: [{ field: 'message', message: expect.stringMatching(/UTF-8/) }],
        }),
      );
    }
    expect(() => form('%ED%A0%80=1')).toThrow(
      expect.objectContaining({ issues: [expect.objectContaining({ field: 'body' })] }),
    );
  });

  it('refuses a body whose bytes are not UTF-8, rather than reading U+FFFD into it', () => {
    const bytes = Buffer.concat([
      Buffer.from('{"message":"a'),
      Buffer.from([0xff]),
      Buffer.from('"}'),
    ]);
    expect(() =>
      readBody(request(bytes.toString('base64'), 'application/json', true), ['json']),
    ).toThrow(
      expect.objectContaining({
        issues: [{ field: 'body', message: expect.stringMatching(/UTF-8/) }],
      }),
    );
  });

  it('answers 400 to a form field given twice', () => {
    expect(() =>
      readBody(request('toID=1&toID=2', 'application/x-www-form-urlencoded'), ['form']),
    ).toThrow('toID: must be given once; received it more than once');
  });
});

describe('routeOf', () => {
  it("is the event's route key, or its method and path when the key is $default or missing", () => {
    expect(routeOf({ routeKey: 'POST /send', rawPath: '/other' })).toBe('POST /send');
    const http = { requestContext: { http: { method: 'GET' } }, rawPath: '/notifications/1' };
    expect(routeOf({ ...http, routeKey: '$default' })).toBe('GET /notifications/1');
    expect(routeOf(http)).toBe('GET /notifications/1');
  });
});

describe('errorResponse', () => {
  const logger = silentLogger();
  const bodyOf = (response: { body: string }) => JSON.parse(response.body);

  it.each([
    [ValidationError.field('toId', 'expected a user id'), 400, 'invalid_request', 'toId'],
    [new UserNotFoundError('toId', 9), 404, 'user_not_found', 'toId'],
    [new PayloadTooLargeError('message', 'too long'), 413, 'payload_too_large', 'message'],
    [
      new UnsupportedMediaTypeError('text/plain', ['application/json']),
      415,
      'unsupported_media_type',
      undefined,
    ],
  ])('maps %s to %i with code and field', (error, status, code, field) => {
    const response = errorResponse(error, logger, 'req-1');
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(bodyOf(response)).toEqual({
      error: { code, message: error.message, ...(field ? { field } : {}), requestId: 'req-1' },
    });
  });

  it('lists every issue when there are several', () => {
    const error = new ValidationError([
      { field: 'fromId', message: 'a' },
      { field: 'toId', message: 'b' },
    ]);
    expect(bodyOf(errorResponse(error, logger)).error.issues).toEqual(error.issues);
  });

  it('keeps an error answer small whatever the request: the first issues, a count, texts cut', () => {
    const issues = Array.from({ length: 20_000 }, (_, i) => ({
      field: `${'k'.repeat(i === 0 ? 100_000 : 1)}${i}`,
      message: 'is not a known field; expected fromId, toId, message',
    }));
    const response = errorResponse(new ValidationError(issues), silentLogger(), 'req-1');
    expect(response.statusCode).toBe(400);
    expect(response.body.length).toBeLessThanOrEqual(ERROR_LIMITS.MAX_BYTES);
    const body = JSON.parse(response.body) as {
      error: { issues: unknown[]; issueCount: number; field: string };
    };
    expect(body.error.issues).toHaveLength(ERROR_LIMITS.ISSUES);
    expect(body.error.issueCount).toBe(20_000);
    expect(body.error.field.length).toBeLessThanOrEqual(ERROR_LIMITS.TEXT_CHARS);
  });

  it('cuts a text by characters, never between the two halves of a pair', () => {
    expect(truncate('😀'.repeat(10), 4)).toBe('😀😀😀…');
    expect(truncate('short', 10)).toBe('short');
  });

  it('answers 503 with Retry-After', () => {
    const response = errorResponse(
      new RetriableError('Kafka is away', { retryAfterSeconds: 5 }),
      logger,
    );
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
  });

  it('answers 500 to anything else without revealing it', () => {
    const secret = new Error('connect ECONNREFUSED 10.0.0.7:9098 at /var/task/index.js:12');
    const response = errorResponse(secret, logger, 'req-2');
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toMatch(/ECONNREFUSED|10\.0\.0\.7|index\.js/);
    expect(bodyOf(response).error).toMatchObject({ code: 'internal_error', requestId: 'req-2' });
  });
});
