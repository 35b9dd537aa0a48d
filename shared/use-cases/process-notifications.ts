import type { Logger } from '@aws-lambda-powertools/logger';
import { isAppError } from '../errors.js';
import type { InboxWriter, StoredNotification } from '../inbox/types.js';
import {
  type DecodedRecord,
  type DecodeResult,
  positionOf,
  type RecordPosition,
} from '../kafka/codec.js';
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
 * idempotent), records that can never be processed (malformed, an unknown user, or refused by
 * the store for good: too large, the recipient's inbox full) go to the dead-letter topic with
 * their reason, so that they never block their partition.
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
  /** Each valid notification's record, to dead-letter it should the store refuse it. */
  const recordOf = new Map<StoredNotification, DecodedRecord>();
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
    const item = { notification, partition: record.partition, offset: String(record.offset) };
    valid.push(item);
    recordOf.set(item, record);
    validPositions.push(positionOf(record));
  }
  for (const p of poison) {
    deps.logger.warn('record rejected', { ...p.position, reason: p.reason });
  }

  const failed: RecordPosition[] = [];
  let storeCalls = 0;
  let stored = 0;
  try {
    const outcome = valid.length > 0 ? await deps.inbox.save(valid) : { calls: 0, refused: [] };
    storeCalls = outcome.calls;
    // What the store refuses for good is dead-lettered with its reason; only passing failures
    // (thrown) make the batch be delivered again: no record can stall its partition.
    // By notification: every record of a refused one (a retry's second record, say) goes too.
    const keyOf = ({ notification }: StoredNotification) =>
      `${notification.to.id}#${notification.id}`;
    const refused = new Map(outcome.refused.map((r) => [keyOf(r.item), r.reason]));
    const kept: StoredNotification[] = [];
    for (const item of valid) {
      const reason = refused.get(keyOf(item));
      const record = recordOf.get(item);
      if (reason === undefined || !record) {
        kept.push(item);
        continue;
      }
      poison.push({ position: positionOf(record), record, reason });
      deps.logger.warn('record rejected', { ...positionOf(record), reason });
    }
    stored = kept.length;
    deps.metrics.add('stored', stored);
    for (const { notification, partition, offset } of kept) {
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
