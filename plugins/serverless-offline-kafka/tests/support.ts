import { createRequire } from 'node:module';
import type { ErrorHandling, Mapping } from '../src/definition.js';
import type { Failure } from '../src/destination.js';
import type { KafkaMessageLike, LambdaKafkaEvent, LambdaKafkaRecord } from '../src/event.js';
import type { PollerHost } from '../src/poller.js';
import type { Log } from '../src/util.js';

/**
 * The plugin's error classes as its own modules `require` them: an ES import of errors.js would
 * load a second copy, whose classes no error thrown by the plugin is an instance of.
 */
export const pluginErrors = createRequire(import.meta.url)(
  '../src/errors.js',
) as typeof import('../src/errors.js');

/** Base64 of a value as a producer would write it: objects as JSON, strings as UTF-8 text. */
export const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64');

/** Decodes a base64 field of a Lambda record back to text. */
export const text = (base64: string | null | undefined): string | undefined =>
  base64 === null || base64 === undefined
    ? undefined
    : Buffer.from(base64, 'base64').toString('utf8');

/** A fetched Kafka message as kafkajs hands it over (key and value as bytes). */
export const message = (
  offset: number,
  fields: Partial<Omit<KafkaMessageLike, 'offset'>> = {},
): KafkaMessageLike => ({
  key: Buffer.from(`key-${offset}`),
  value: Buffer.from(JSON.stringify({ n: offset })),
  timestamp: String(1_764_000_000_000 + offset),
  headers: {},
  ...fields,
  offset: String(offset),
});

/** Consecutive messages `from`..`to` (inclusive). */
export const messages = (from: number, to: number): KafkaMessageLike[] =>
  Array.from({ length: to - from + 1 }, (_, i) => message(from + i));

/** The offsets of every record in an event, per `<topic>-<partition>` group. */
export const offsetsOf = (event: LambdaKafkaEvent): number[] =>
  Object.values(event.records).flatMap((group) => group.map((r) => r.offset));

export const offsets = (records: readonly LambdaKafkaRecord[]): number[] =>
  records.map((r) => r.offset);

/** A log that drops every line. */
export const silent: Log = {
  notice: () => undefined,
  warning: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};

/**
 * How long a test waits for something that is bound to happen: a guard against hanging only, long
 * enough for a busy machine (how fast it happens is for bench/).
 */
export const SETTLE_MS = 10_000;

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export const until = async (
  condition: () => boolean,
  what = 'condition',
  timeoutMs = SETTLE_MS,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
};

/** Resolves with `promise`, or rejects if it takes longer than `timeoutMs`. */
export const within = async <T>(promise: Promise<T>, timeoutMs: number, what: string) => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what} did not settle within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

/** A promise settled from outside, for invocations that stay in flight until a test says so. */
export const deferred = <T = unknown>() => {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

export const NO_ERROR_HANDLING: ErrorHandling = {
  provisioned: false,
  maxRetries: -1,
  maxRecordAgeMs: -1,
  bisect: false,
  reportBatchItemFailures: false,
  onFailure: undefined,
};

/** A mapping as `mappingOf` returns it, with only the fields a test cares about changed. */
export const testMapping = (
  changes: Partial<Omit<Mapping, 'errorHandling'>> & {
    errorHandling?: Partial<ErrorHandling>;
  } = {},
): Mapping => {
  const { errorHandling, ...rest } = changes;
  return {
    id: 'consumer#0',
    functionKey: 'consumer',
    functionName: 'svc-dev-consumer',
    logicalId: 'ConsumerEventSourceMappingMSKDemoNotifications',
    source: { kind: 'msk', arn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/demo/abc-1' },
    bootstrapServers: undefined,
    access: { sasl: undefined, clientCertificate: undefined, serverRootCa: undefined },
    topic: 'notifications',
    groupId: 'test-group',
    batchSize: 100,
    windowMs: 0,
    startingPosition: 'TRIM_HORIZON',
    startingPositionTimestampMs: undefined,
    filter: () => true,
    filterPatterns: [],
    logLevel: 'INFO',
    metrics: [],
    pollers: undefined,
    warnings: [],
    ...rest,
    errorHandling: { ...NO_ERROR_HANDLING, ...errorHandling },
  };
};

type GiveUp = Failure & { records: LambdaKafkaRecord[] };

/**
 * A poller host with no Kafka: records every invocation, commit, pause, resume and give-up (the
 * records sent to its destination, unless a test brings its own `destination`); `history` holds
 * invocations, commits and give-ups in the order they happened. `respond` decides each
 * invocation's outcome (its result, or a throw).
 */
export const fakeHost = (
  options: {
    mapping?: Mapping;
    respond?: (event: LambdaKafkaEvent, call: number) => unknown;
    retryDelayMs?: (attempt: number) => number;
    now?: () => number;
    destination?: PollerHost['destination'];
  } = {},
) => {
  const invocations: LambdaKafkaEvent[] = [];
  const invokedAt: number[] = [];
  const commits: bigint[] = [];
  const givenUp: GiveUp[] = [];
  const pauses: number[] = [];
  const resumes: number[] = [];
  const history: string[] = [];
  const logged: { level: keyof Log; message: string }[] = [];
  const log: Log = {
    notice: (m) => logged.push({ level: 'notice', message: m }),
    warning: (m) => logged.push({ level: 'warning', message: m }),
    error: (m) => logged.push({ level: 'error', message: m }),
    debug: (m) => logged.push({ level: 'debug', message: m }),
  };
  const respond = options.respond ?? (() => null);
  const host: PollerHost = {
    mapping: options.mapping ?? testMapping(),
    bootstrapServers: ['127.0.0.1:9092'],
    envelopeBytes: 300,
    invoke: async (event) => {
      invocations.push(event);
      invokedAt.push(Date.now());
      history.push(`invoke ${offsetsOf(event).join(',')}`);
      return respond(event, invocations.length);
    },
    commit: async (partition, offset) => {
      commits.push(offset);
      history.push(`commit ${partition}@${offset}`);
    },
    pause: (partition) => {
      pauses.push(partition);
    },
    resume: (partition) => {
      resumes.push(partition);
    },
    destination: options.destination ?? {
      send: async (records, failure) => {
        givenUp.push({ records, ...failure });
        history.push(`giveUp ${offsets(records).join(',')}`);
      },
    },
    retryDelayMs: options.retryDelayMs ?? (() => 1),
    log,
    ...(options.now ? { now: options.now } : {}),
  };
  return { host, invocations, invokedAt, commits, givenUp, pauses, resumes, history, logged };
};
