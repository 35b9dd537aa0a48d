import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { type AppMetrics, EmfMetrics } from '../../shared/metrics.js';

/** Metrics that record nothing, for tests that do not look at them. */
export const silentMetrics = (): AppMetrics => ({ add: () => undefined, flush: () => undefined });

/** One EMF line, parsed. */
export type EmfLine = Readonly<Record<string, unknown>> & {
  readonly _aws: {
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: string }[];
    }[];
  };
};

/**
 * Real Powertools metrics whose EMF lines are kept in `lines` instead of printed: Powertools
 * prints through a `Console` of its own, which is pointed at a stream that collects them.
 */
export const recordingMetrics = (
  namespace = 'tests',
  serviceName = 'notifications',
): { metrics: EmfMetrics; lines: EmfLine[] } => {
  const lines: EmfLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim()) lines.push(JSON.parse(text) as EmfLine);
      }
      done();
    },
  });
  const powertools = new Metrics({ namespace, serviceName });
  (powertools as unknown as { console: Console }).console = new Console({
    stdout: sink,
    stderr: sink,
  });
  return { metrics: new EmfMetrics(powertools), lines };
};

/** The metric values of an EMF line, by name. */
export const valuesOf = (line: EmfLine | undefined): Record<string, unknown> => {
  const names = line?._aws.CloudWatchMetrics.flatMap((m) => m.Metrics.map((d) => d.Name)) ?? [];
  return Object.fromEntries(names.map((name) => [name, line?.[name]]));
};
