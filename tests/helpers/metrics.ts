import { Metrics } from '@aws-lambda-powertools/metrics';
import { type AppMetrics, EmfMetrics } from '../../shared/metrics.js';
import { collectJsonLines } from './logger.js';

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

/** Real Powertools metrics whose EMF lines are kept in `lines` instead of printed. */
export const recordingMetrics = (
  namespace = 'tests',
  serviceName = 'notifications',
): { metrics: EmfMetrics; lines: EmfLine[] } => {
  const lines: EmfLine[] = [];
  const powertools = new Metrics({ namespace, serviceName });
  collectJsonLines(powertools, lines);
  return { metrics: new EmfMetrics(powertools), lines };
};

/** The metric values of an EMF line, by name. */
export const valuesOf = (line: EmfLine | undefined): Record<string, unknown> => {
  const names = line?._aws.CloudWatchMetrics.flatMap((m) => m.Metrics.map((d) => d.Name)) ?? [];
  return Object.fromEntries(names.map((name) => [name, line?.[name]]));
};
