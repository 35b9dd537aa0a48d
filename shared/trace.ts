/**
 * Latency marks for `bench/latency-budget.ts`, off unless the function's environment has
 * `LATENCY_TRACE=true` (serverless.yml passes it from the shell offline; it is never set on AWS).
 * Off, `traced` returns the handler itself and `mark` does nothing: no cost on any path.
 *
 * On, each invocation writes one line to stderr when it ends:
 * `latency-trace {"fn":..,"marks":{"start":..,"end":..,...},"keys":["<partition>:<offset>",..]}`,
 * times in milliseconds since the epoch with microseconds (`performance.timeOrigin + now()`, the
 * same clock in every thread and process of the machine). A Lambda instance runs one invocation at
 * a time (a worker thread offline), so the marks of the one running are module state.
 */

const enabled = process.env.LATENCY_TRACE === 'true';

/** Milliseconds since the epoch, to the microsecond. */
export const traceNow = (): number => performance.timeOrigin + performance.now();

let marks: Record<string, number> | undefined;

/** Notes the time of `name` in the running invocation (nothing when tracing is off). */
export const mark = (name: string): void => {
  if (marks) marks[name] = traceNow();
};

/** A Kafka event's records, as `<partition>:<offset>`, and their timestamps (append time). */
const recordsOf = (event: unknown): { keys: string[]; appended: number[] } => {
  const keys: string[] = [];
  const appended: number[] = [];
  const records = (
    event as {
      records?: Record<string, { partition: number; offset: number; timestamp: number }[]>;
    }
  ).records;
  for (const batch of Object.values(records ?? {})) {
    for (const r of batch) {
      keys.push(`${r.partition}:${r.offset}`);
      appended.push(r.timestamp);
    }
  }
  return { keys, appended };
};

/** The record an HTTP answer names (`{ partition, offset }`), if any. */
const answeredKeys = (result: unknown): string[] => {
  try {
    const body = JSON.parse(String((result as { body?: unknown }).body ?? 'null')) as {
      partition?: number;
      offset?: string;
    } | null;
    return body && body.partition !== undefined ? [`${body.partition}:${body.offset}`] : [];
  } catch {
    return [];
  }
};

/**
 * `handler`, which writes its invocation's marks when tracing is on: `start`, `end`, what the
 * handler marked meanwhile, and the records the event carries (Kafka) or the answer names (HTTP).
 */
export const traced = <A extends [unknown, ...unknown[]], R>(
  fn: string,
  handler: (...args: A) => Promise<R>,
): ((...args: A) => Promise<R>) =>
  enabled
    ? async (...args: A): Promise<R> => {
        const own: Record<string, number> = { start: traceNow() };
        marks = own;
        let result: R | undefined;
        try {
          result = await handler(...args);
          return result;
        } finally {
          own.end = traceNow();
          marks = undefined;
          const { keys, appended } = recordsOf(args[0]);
          const line = keys.length
            ? { fn, marks: own, keys, appended }
            : { fn, marks: own, keys: answeredKeys(result) };
          process.stderr.write(`latency-trace ${JSON.stringify(line)}\n`);
        }
      }
    : handler;
