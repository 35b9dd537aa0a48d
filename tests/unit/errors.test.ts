import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import * as errors from '../../shared/errors.js';
import { errorResponse } from '../../shared/http.js';
import { describeIssues } from '../../shared/models/index.js';
import { silentLogger } from '../helpers/logger.js';

/** Every concrete error class of shared/errors.ts, built with throwaway arguments. */
type AnyError = new (...args: unknown[]) => errors.AppError;
const classes = Object.entries(errors as Record<string, unknown>).filter(
  (entry): entry is [string, AnyError] =>
    typeof entry[1] === 'function' &&
    /^[A-Z]\w*Error$/.test(entry[0]) &&
    !['AppError', 'HttpError', 'FieldError'].includes(entry[0]),
);

describe('the error hierarchy', () => {
  it('finds the classes', () => {
    expect(classes.length).toBeGreaterThanOrEqual(14);
  });

  it.each(classes)('%s is an AppError named after its class, with a code', (name, Class) => {
    const error = new Class('message', []);
    expect(error).toBeInstanceOf(errors.AppError);
    expect(error.name).toBe(name);
    expect(error.code).toMatch(/^[a-z_]+$/);
    expect(typeof error.retriable).toBe('boolean');
  });

  it('answers an error that is not an HttpError with a 500 that keeps its message to itself', () => {
    const response = errorResponse(
      new errors.InvalidInboxItemError('The inbox item 1/x is not a valid notification'),
      silentLogger(),
      'r-1',
    );
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('inbox item');
  });
});

describe('describeIssues', () => {
  const schema = z.object({ a: z.object({ b: z.number() }), c: z.string() });

  it('puts every issue on one line as path: message, the prefix and root as asked', () => {
    const parsed = schema.safeParse({ a: { b: 'x' }, c: 1 });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    expect(describeIssues(parsed.error.issues, { prefix: 'P.' })).toBe(
      'P.a.b: Invalid input; P.c: Invalid input',
    );
    const whole = z.number().safeParse('x');
    if (whole.success) throw new Error('expected a failure');
    expect(describeIssues(whole.error.issues, { root: 'value' })).toBe('value: Invalid input');
    expect(describeIssues(whole.error.issues)).toBe(': Invalid input');
  });
});
