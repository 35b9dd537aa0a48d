import type { IHeaders, Message } from 'kafkajs';
import { NOTIFICATION_SCHEMA_VERSION, type Notification } from '../models/index.js';

/** Header names written on every notification record. */
export const HEADERS = {
  contentType: 'content-type',
  schemaVersion: 'schema-version',
} as const;

export const JSON_CONTENT_TYPE = 'application/json';

/**
 * The record key: the recipient's id, so that one user's notifications land on one partition
 * (placed by the Java client's murmur2 partitioner) and stay in order.
 */
export const recordKey = (notification: Notification): string => String(notification.to.id);

/** The Kafka record for a notification: key, JSON value, and content headers. */
export const toRecord = (notification: Notification): Message => ({
  key: recordKey(notification),
  value: JSON.stringify(notification),
  headers: {
    [HEADERS.contentType]: JSON_CONTENT_TYPE,
    [HEADERS.schemaVersion]: NOTIFICATION_SCHEMA_VERSION,
  } satisfies IHeaders,
});
