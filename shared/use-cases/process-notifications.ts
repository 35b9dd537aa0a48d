import type { Logger } from '@aws-lambda-powertools/logger';
import { isAppError } from '../errors.js';
import type { InboxWriter, StoredNotification } from '../inbox/types.js';
import { type DecodeResult, positionOf, type RecordPosition } from '../kafka/codec.js';
import type { DeadLetterSink, PoisonRecord } from '../kafka/dead-letters.js';
import type { AppMetrics } from '../metrics.js';
import type { UserDirectory } from '../models/index.js';

export interface ProcessDependencies {
  readonly inbox: InboxWriter;
  readonly deadLetters: DeadLetterSink;
  readonly users: UserDirectory;
  readonly logger: Logger;
  readonly metrics: AppMetrics;
}

/** What one batch came to; `failed` lists what must be delivered again (partial responses). */
export interface ProcessOutcome {
  readonly stored: number;
  readonly deadLettered: number;
  readonly storeCalls: number;
  readonly failed: readonly RecordPosition[];
}

/**
 * Processes a batch of decoded records: valid notifications are stored in the inbox (batched,
 * idempotent), records that can never be processed go to the dead-letter topic so that they
 * never block their partition.
 *
 * A passing failure (store or broker unavailable) is thrown, so that the invocation fails and
 * the batch is delivered again: storing is idempotent, so nothing is stored twice. With
 * `partial`, it is reported in `failed` instead (for a partial batch response).
 *
 * Metrics, once per batch: its size, then how many were stored and dead-lettered, each once it
 * is done (a failed step records nothing).
 */
export const processRecords = async (
  results: readonly DecodeResult[],
  deps: ProcessDependencies,
  partial = false,
): Promise<ProcessOutcome> => {
  const valid: StoredNotification[] = [];
  const validPositions: RecordPosition[] = [];
  const poison: PoisonRecord[] = [];
  deps.metrics.add('batchSize', results.length);
  for (const result of results) {
    if (!result.ok) {
      poison.push({
        position: result.position,
        record: result.record,
        raw: result.raw,
        reason: result.reason,
      });
      continue;
    }
    const { notification, record } = result;
    // By id: a user renamed in the directory still receives what was sent under the old name.
    const stranger = [notification.from, notification.to].find((u) => !deps.users.find(u.id));
    if (stranger) {
      poison.push({
        position: positionOf(record),
        record,
        reason: `unknown user: ${JSON.stringify(stranger)} is not in the user directory`,
      });
      continue;
    }
    valid.push({ notification, partition: record.partition, offset: String(record.offset) });
    validPositions.push(positionOf(record));
  }
  for (const p of poison) {
    deps.logger.warn('record rejected', { ...p.position, reason: p.reason });
  }

  const failed: RecordPosition[] = [];
  let storeCalls = 0;
  let stored = 0;
  try {
    if (valid.length > 0) storeCalls = (await deps.inbox.save(valid)).calls;
    stored = valid.length;
    deps.metrics.add('stored', stored);
    for (const { notification, partition, offset } of valid) {
      deps.logger.info('notification stored', {
        notificationId: notification.id,
        toId: notification.to.id,
        partition,
        offset,
      });
    }
  } catch (error) {
    if (!partial || !isRetriable(error)) throw error;
    deps.logger.warn('storing failed; the batch will be delivered again', { error });
    failed.push(...validPositions);
  }
  let deadLettered = 0;
  try {
    await deps.deadLetters.publish(poison);
    deadLettered = poison.length;
    deps.metrics.add('deadLettered', deadLettered);
  } catch (error) {
    if (!partial || !isRetriable(error)) throw error;
    failed.push(...poison.map((p) => p.position));
  }
  return {
    stored,
    deadLettered,
    storeCalls,
    failed,
  };
};

const isRetriable = (error: unknown): boolean => isAppError(error) && error.retriable;
