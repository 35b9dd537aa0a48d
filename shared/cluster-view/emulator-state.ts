import * as z from 'zod/mini';

/**
 * The Kafka emulator's state as its plugin serves it (plugins/serverless-offline-kafka, README
 * "State", version 1), checked at this boundary: what the cluster page shows of each event
 * source mapping.
 */

const InFlightSchema = z.object({
  partition: z.number(),
  firstOffset: z.nullable(z.number()),
  lastOffset: z.number(),
  records: z.number(),
  since: z.number(),
  attempts: z.number(),
  lastError: z.nullable(z.string()),
});

const PollerSchema = z.object({
  memberId: z.nullable(z.string()),
  assigned: z.array(z.number()),
  partitions: z.array(
    z.object({
      partition: z.number(),
      highWatermark: z.number(),
      committed: z.nullable(z.number()),
      lag: z.number(),
      waiting: z.number(),
      inFlight: z.nullable(InFlightSchema),
    }),
  ),
  invocations: z.number(),
  errors: z.number(),
  recordsDelivered: z.number(),
  retries: z.number(),
  recordsFilteredOut: z.number(),
  recordsSentToDestination: z.number(),
  invocationsPerSecond: z.number(),
  lastError: z.nullable(z.object({ message: z.string(), at: z.number() })),
});

const MappingSchema = z.object({
  functionKey: z.string(),
  functionName: z.string(),
  topic: z.string(),
  groupId: z.string(),
  batchSize: z.number(),
  batchingWindowMs: z.number(),
  startingPosition: z.string(),
  filters: z.array(z.string()),
  mode: z.enum(['on-demand', 'provisioned']),
  provisionedPollers: z.nullable(z.object({ min: z.number(), max: z.number() })),
  maximumRetryAttempts: z.number(),
  bisectBatchOnFunctionError: z.boolean(),
  reportBatchItemFailures: z.boolean(),
  onFailure: z.nullable(z.string()),
  status: z.enum(['connecting', 'consuming', 'stopped']),
  pollers: z.array(PollerSchema),
});

export const EmulatorStateSchema = z.object({
  version: z.literal(1),
  at: z.number(),
  mappings: z.array(MappingSchema),
});

export type EmulatorState = z.infer<typeof EmulatorStateSchema>;
export type MappingState = z.infer<typeof MappingSchema>;

/** Whether the page has the emulator's mappings: read now, not configured, or not answering. */
export type EmulatorReading =
  | { readonly kind: 'read'; readonly mappings: readonly MappingState[] }
  | { readonly kind: 'off' }
  | { readonly kind: 'unreachable'; readonly reason: string };

/** Reads the state at `url` (`KAFKA_STATE_URL`) within `timeoutMs`; never throws. */
export const readEmulatorState = async (
  url: string | undefined,
  timeoutMs: number,
  fetchState: typeof fetch = fetch,
): Promise<EmulatorReading> => {
  if (!url) return { kind: 'off' };
  try {
    const response = await fetchState(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return { kind: 'unreachable', reason: `it answered ${response.status}` };
    const parsed = EmulatorStateSchema.safeParse(await response.json());
    if (!parsed.success) {
      return { kind: 'unreachable', reason: 'its answer is not the state (version 1) expected' };
    }
    return { kind: 'read', mappings: parsed.data.mappings };
  } catch {
    return { kind: 'unreachable', reason: 'it does not answer' };
  }
};
