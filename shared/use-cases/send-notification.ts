import type { Logger } from '@aws-lambda-powertools/logger';
import {
  fieldPath,
  IncompleteAcknowledgementError,
  OtherUserError,
  PayloadTooLargeError,
  UserNotFoundError,
  ValidationError,
} from '../errors.js';
import type { Caller } from '../identity/caller.js';
import type { NotificationPublisher, Placement } from '../kafka/publisher.js';
import type { AppMetrics } from '../metrics.js';
import {
  characterCount,
  createNotification,
  type FieldNames,
  MAX_MESSAGE_CHARS,
  type Notification,
  type SendRequest,
  type UserDirectory,
} from '../models/index.js';

/** What the client learns about each accepted notification. */
export interface Receipt extends Placement {
  readonly id: string;
}

export interface SendDependencies {
  readonly publisher: NotificationPublisher;
  readonly users: UserDirectory;
  readonly logger: Logger;
  readonly metrics: AppMetrics;
  readonly now?: () => Date;
}

/**
 * The sender of a request: the caller. A user sends as themself (`fromId` left out, or theirs;
 * another is 403). The demo's tokenless client names its sender, as the demo did.
 */
const senderOf = (request: SendRequest, caller: Caller, field: string): number => {
  if (caller.kind === 'demo') {
    if (request.fromId === undefined) {
      throw ValidationError.field(field, 'is required without a token; expected a user id');
    }
    return request.fromId;
  }
  if (request.fromId !== undefined && request.fromId !== caller.userId) {
    throw new OtherUserError(
      field,
      `you may send as yourself only (user ${caller.userId}); received ${request.fromId}.`,
    );
  }
  return caller.userId;
};

/** The id of the request's notification at `index`. */
export type NotificationIdOf = (index: number) => string;

/**
 * Turns requests into notifications from `caller`, checking every one before any is published:
 * an over-long message is 413, another sender than the caller 403, an unknown user 404. `fields`
 * names the fields as the client sent them, and `batch` says whether to prefix them with the
 * item's index. Ids come from `idOf` when given (a request with an Idempotency-Key), else are
 * random.
 */
export const buildNotifications = (
  requests: readonly SendRequest[],
  caller: Caller,
  users: UserDirectory,
  fields: FieldNames,
  batch: boolean,
  now: Date,
  idOf?: NotificationIdOf,
): Notification[] =>
  requests.map((request, index) => {
    const field = (name: keyof SendRequest) =>
      fieldPath(batch ? [index, fields[name]] : [fields[name]]);
    const length = characterCount(request.message);
    if (length > MAX_MESSAGE_CHARS) {
      throw new PayloadTooLargeError(
        field('message'),
        `must be at most ${MAX_MESSAGE_CHARS} characters; received ${length}`,
      );
    }
    const fromId = senderOf(request, caller, field('fromId'));
    const from = users.find(fromId);
    if (!from) throw new UserNotFoundError(field('fromId'), fromId);
    const to = users.find(request.toId);
    if (!to) throw new UserNotFoundError(field('toId'), request.toId);
    return createNotification(from, to, request.message, now, idOf?.(index));
  });

export interface SendOptions {
  /** Longest the publish may take (the invocation's remaining time, say). */
  readonly timeoutMs?: number | undefined;
  /** The notifications' ids, derived from the request's Idempotency-Key; random without one. */
  readonly idOf?: NotificationIdOf | undefined;
}

/**
 * Validates and publishes notifications from `caller` together: all are accepted, or none.
 * Records the request's size once it is valid, and what it published once Kafka confirmed it.
 */
export const sendNotifications = async (
  requests: readonly SendRequest[],
  caller: Caller,
  fields: FieldNames,
  batch: boolean,
  deps: SendDependencies,
  { timeoutMs, idOf }: SendOptions = {},
): Promise<Receipt[]> => {
  const notifications = buildNotifications(
    requests,
    caller,
    deps.users,
    fields,
    batch,
    deps.now?.() ?? new Date(),
    idOf,
  );
  deps.metrics.add('requestSize', notifications.length);
  const placements = await deps.publisher.publish(
    notifications,
    timeoutMs === undefined ? {} : { timeoutMs },
  );
  const receipts = notifications.map((notification, i) => {
    const placement = placements[i];
    if (!placement) {
      throw new IncompleteAcknowledgementError(
        'The publisher returned fewer placements than notifications',
      );
    }
    deps.logger.info('notification published', {
      notificationId: notification.id,
      fromId: notification.from.id,
      toId: notification.to.id,
      ...placement,
    });
    return { id: notification.id, ...placement };
  });
  deps.metrics.add('published', receipts.length);
  return receipts;
};
