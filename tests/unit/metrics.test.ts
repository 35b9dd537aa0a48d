import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { withRequestContext } from '../../shared/lambda.js';
import { createMetrics, METRICS } from '../../shared/metrics.js';
import { recordingLogger } from '../helpers/logger.js';
import { recordingMetrics, valuesOf } from '../helpers/metrics.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('metrics', () => {
  it('names every metric once, in units CloudWatch knows', () => {
    const names = Object.values(METRICS).map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const { unit } of Object.values(METRICS)) expect(unit).toBe('Count');
  });

  it('writes nothing, and warns about nothing, for an invocation that recorded nothing', () => {
    const warn = vi.spyOn(console, 'warn');
    const { metrics, lines } = recordingMetrics();
    metrics.flush();
    expect(lines).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  });

  it('writes nothing when POWERTOOLS_METRICS_DISABLED is true, as offline', () => {
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    const { metrics, lines } = recordingMetrics();
    metrics.add('published', 1);
    metrics.flush();
    expect(lines).toEqual([]);
  });

  it('starts afresh after each flush', () => {
    const { metrics, lines } = recordingMetrics();
    metrics.add('stored', 2);
    metrics.flush();
    metrics.add('deadLettered', 1);
    metrics.flush();
    expect(lines.map(valuesOf)).toEqual([
      { NotificationsStored: 2 },
      { NotificationsDeadLettered: 1 },
    ]);
  });

  it('takes the namespace from POWERTOOLS_METRICS_NAMESPACE, else the service name', () => {
    const named = loadConfig({ SERVICE_NAME: 'kafka-notifications' });
    expect(named.metrics.namespace).toBe('kafka-notifications');
    const own = loadConfig({ POWERTOOLS_METRICS_NAMESPACE: 'Notifications' });
    const metrics = createMetrics(own);
    metrics.add('published', 1);
    const emf = metrics.powertools.serializeMetrics();
    metrics.powertools.clearMetrics();
    expect(emf._aws.CloudWatchMetrics[0]?.Namespace).toBe('Notifications');
    expect(emf.service).toBe('notifications');
  });
});

describe('the handler frame and metrics', () => {
  it('flushes once per invocation, even when the handler throws', async () => {
    const { logger } = recordingLogger();
    const { metrics, lines } = recordingMetrics();
    const handler = withRequestContext({ logger, metrics }, async (fail: boolean) => {
      metrics.add('published', 1);
      if (fail) throw new Error('boom');
    });
    await handler(false, { awsRequestId: 'a' });
    await expect(handler(true, { awsRequestId: 'b' })).rejects.toThrow('boom');
    expect(lines.map(valuesOf)).toEqual([
      { NotificationsPublished: 1 },
      { NotificationsPublished: 1 },
    ]);
  });

  it('answers as the handler did when the metrics cannot be written, and logs why', async () => {
    const { logger, lines } = recordingLogger();
    const metrics = {
      flush: () => {
        throw new RangeError('too many metrics');
      },
    };
    const handler = withRequestContext({ logger, metrics }, async () => 'answer');
    expect(await handler(undefined, { awsRequestId: 'a' })).toBe('answer');
    expect(lines.map((l) => [l.message, l.requestId])).toEqual([
      ['could not write the metrics', 'a'],
    ]);
  });
});
