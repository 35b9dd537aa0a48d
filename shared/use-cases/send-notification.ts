import type { Logger } from '@aws-lambda-powertools/logger';
import {
  type FieldPath,
  IncompleteAcknowledgementError,
  MissingFieldError,
  OtherUserError,
  PayloadTooLargeError,
  UserNotFoundError,
} from '../errors.js';
import type { Caller } from '../identity/authenticator.js';
import type { NotificationPublisher, Placement } from '../kafka/publisher.js';
import type { SendLimiter } from '../limits/send-rate.js';
import type { AppMetrics } from '../metrics.js';
import {
  characterCount,
  createNotification,
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
  /** Counts each sender's notifications against the per-sender limit (none: no limit). */
  readonly limiter?: SendLimiter;
  readonly now?: () => Date;
}

/** The id of the command's notification at `index`. */
export type NotificationIdOf = (index: number) => string;

/** What the use case is asked: to send `requests` from `caller`, all of them or none. */
export interface SendCommand {
  readonly caller: Caller;
  /** The notifications to send, in order: an error names one by its index here. */
  readonly requests: readonly SendRequest[];
  /** Longest the publish may take (the invocation's remaining time, say). */
  readonly timeoutMs?: number | undefined;
  /** The notifications' ids, derived from the request's Idempotency-Key; random without one. */
  readonly idOf?: NotificationIdOf | undefined;
}

/**
 * The sender of a request: the caller. A user sends as themself (`fromId` left out, or theirs;
 * another is 403). The demo's tokenless client names its sender, as the demo did.
 */
const senderOf = (request: SendRequest, caller: Caller, field: FieldPath): number => {
  if (caller.kind === 'demo') {
    if (request.fromId === undefined) {
      throw new MissingFieldError(field, 'is required without a token; expected a user id');
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

/**
 * Turns the command's requests into notifications, checking every one before any is published:
 * an over-long message is 413, another sender than the caller 403, an unknown user 404. Errors
 * name the field in the use case's words: the request's index and the field of `SendRequest`
 * (`[1, 'toId']`).
 */
const buildNotifications = (
  { caller, requests, idOf }: SendCommand,
  users: UserDirectory,
  now: Date,
): Notification[] =>
  requests.map((request, index) => {
    const field = (name: keyof SendRequest): FieldPath => [index, name];
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

/**
 * Validates and publishes the command's notifications together: all are accepted, or none. Each
 * sender's are counted against the per-sender limit first (429 past it, nothing published).
 * Records the request's size once it is valid, and what it published once Kafka confirmed it.
 * @throws FieldError naming the field at fault as `[index, name of the SendRequest field]`
 */
export const sendNotifications = async (
  command: SendCommand,
  deps: SendDependencies,
): Promise<Receipt[]> => {
  const now = deps.now?.() ?? new Date();
  const notifications = buildNotifications(command, deps.users, now);
  deps.metrics.add('requestSize', notifications.length);
  // After validation (a refused request counts nothing), before anything is published.
  const perSender = new Map<number, number>();
  for (const n of notifications) perSender.set(n.from.id, (perSender.get(n.from.id) ?? 0) + 1);
  for (const [senderId, count] of perSender) await deps.limiter?.take(senderId, count, now);
  const { timeoutMs } = command;
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
