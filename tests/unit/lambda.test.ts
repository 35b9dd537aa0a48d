import { describe, expect, it } from 'vitest';
import { withRequestContext } from '../../shared/lambda.js';
import { recordingLogger } from '../helpers/logger.js';

describe('withRequestContext', () => {
  it('puts the request id on every log line of the invocation, and only there', async () => {
    const { logger, lines } = recordingLogger();
    const handler = withRequestContext({ logger }, async (event: string, request) => {
      logger.info('inside', { event });
      return request.requestId;
    });
    expect(await handler('e', { awsRequestId: 'r-1' })).toBe('r-1');
    logger.info('after');
    expect(lines.map((l) => [l.message, l.requestId])).toEqual([
      ['inside', 'r-1'],
      ['after', undefined],
    ]);
  });

  it('keeps what the handler adds for the rest of the invocation, and drops it when it throws', async () => {
    const { logger, lines } = recordingLogger();
    const handler = withRequestContext({ logger }, async (_event: unknown, request) => {
      request.add({ userId: 7 });
      logger.info('known');
      throw new Error('boom');
    });
    await expect(handler({}, { awsRequestId: 'r-2' })).rejects.toThrow('boom');
    logger.info('next');
    expect(lines.map((l) => [l.message, l.requestId, l.userId])).toEqual([
      ['known', 'r-2', 7],
      ['next', undefined, undefined],
    ]);
  });

  it('gives each of two invocations in turn its own request id', async () => {
    const { logger, lines } = recordingLogger();
    const handler = withRequestContext({ logger }, async () => logger.info('hello'));
    await handler(undefined, { awsRequestId: 'a' });
    await handler(undefined, { awsRequestId: 'b' });
    expect(lines.map((l) => l.requestId)).toEqual(['a', 'b']);
  });
});
