import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Config } from './config.js';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * The application's metrics, as a Lambda user expects them: CloudWatch metrics written as one
 * Embedded Metric Format (EMF) line per invocation by Powertools Metrics, which the Lambda
 * runtime's log capture turns into metrics (namespace `config().metrics.namespace`, dimension
 * `service`). They are recorded once per request or batch, never per record.
 *
 * Adding a metric is one line in `METRICS` and one `metrics.add(key, value)` where it happens.
 */
export const METRICS = {
  /** Notifications a request published (an accepted request; its sample count is requests). */
  published: { name: 'NotificationsPublished', unit: MetricUnit.Count },
  /** Notifications in a valid `POST` request, published or not: the requests' batch sizes. */
  requestSize: { name: 'NotificationsPerRequest', unit: MetricUnit.Count },
  /** Records in the batch Lambda's Kafka event source delivered to the consumer. */
  batchSize: { name: 'RecordsPerBatch', unit: MetricUnit.Count },
  /** Notifications a batch stored in the inbox. */
  stored: { name: 'NotificationsStored', unit: MetricUnit.Count },
  /** Records a batch sent to the dead-letter topic. */
  deadLettered: { name: 'NotificationsDeadLettered', unit: MetricUnit.Count },
  /** Messages a batch pushed to open WebSocket connections (one per notification and connection). */
  pushed: { name: 'NotificationsPushed', unit: MetricUnit.Count },
  /** Posts to connections that failed (throttled, timed out): not retried, the inbox has them. */
  pushFailed: { name: 'PushesFailed', unit: MetricUnit.Count },
  /** Connections removed because API Gateway answered 410 (gone). */
  goneConnections: { name: 'GoneConnectionsRemoved', unit: MetricUnit.Count },
} as const satisfies Record<string, { readonly name: string; readonly unit: Unit }>;

export type MetricKey = keyof typeof METRICS;

/** Where the application records metrics; domain code depends on this, tests pass a fake. */
export interface AppMetrics {
  /** Records `value` for `metric` in this invocation. */
  add(metric: MetricKey, value: number): void;
  /** Writes what this invocation recorded (the handler frame calls it when the invocation ends). */
  flush(): void;
}

/**
 * Powertools Metrics behind `AppMetrics`. `POWERTOOLS_METRICS_DISABLED=true` (serverless.yml sets
 * it offline) records but writes nothing.
 */
export class EmfMetrics implements AppMetrics {
  constructor(readonly powertools: Metrics) {}

  add(metric: MetricKey, value: number): void {
    const { name, unit } = METRICS[metric];
    this.powertools.addMetric(name, unit, value);
  }

  /** One EMF line, or none when nothing was recorded (Powertools would warn about that). */
  flush(): void {
    if (this.powertools.hasStoredMetrics()) this.powertools.publishStoredMetrics();
  }
}

/** The metrics of a function (one per container). */
export const createMetrics = (settings: Pick<Config, 'serviceName' | 'metrics'>): EmfMetrics =>
  new EmfMetrics(
    new Metrics({ namespace: settings.metrics.namespace, serviceName: settings.serviceName }),
  );
