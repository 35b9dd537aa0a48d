import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  INBOX_EXPIRES_AT,
  INBOX_TABLE,
  inboxKeyOf,
  inboxTableInput,
  TIMELINE_PATTERN,
  timelineOf,
  toItem,
} from '../../shared/inbox/inbox-table.js';
import type { StoredNotification } from '../../shared/inbox/types.js';
import { createNotification } from '../../shared/models/index.js';

const emma = { id: 1, name: 'Emma' };
const bruno = { id: 2, name: 'Bruno' };

const stored = (createdAt: string, partition: number, offset: string): StoredNotification => ({
  notification: createNotification(bruno, emma, 'hi', new Date(createdAt)),
  partition,
  offset,
});

describe('inbox table', () => {
  it('is the table serverless.yml deploys as InboxTable', () => {
    const resource = JSON.parse(
      readFileSync(
        join(import.meta.dirname, '../../serverless/resources/inbox-table.json'),
        'utf8',
      ),
    );
    const serverlessYml = readFileSync(join(import.meta.dirname, '../../serverless.yml'), 'utf8');
    expect(serverlessYml).toMatch(
      /^ +InboxTable: \$\{file\(\.\/serverless\/resources\/inbox-table\.json\)\}$/m,
    );
    expect(resource.Type).toBe('AWS::DynamoDB::Table');
    // The name is the serverless.yml parameter, resolved per stage.
    const { TableName, TimeToLiveSpecification, PointInTimeRecoverySpecification, ...properties } =
      resource.Properties;
    expect(TableName).toBe(['$', '{param:inboxTable}'].join(''));
    // Notifications expire (issue 18, finding 2): no inbox grows without bound.
    expect(TimeToLiveSpecification).toEqual({ AttributeName: INBOX_EXPIRES_AT, Enabled: true });
    // The users' data can be restored to any second of the last 35 days (checkov's CKV_AWS_28).
    expect(PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    const { TableName: _name, ...definition } = inboxTableInput('any');
    expect(properties).toEqual(definition);
  });

  it('is keyed by recipient id and notification id, listed by a timeline index, billed per request', () => {
    const lsi = (name: string, sort: string, projection: string) => ({
      IndexName: name,
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: sort, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: projection },
    });
    expect(inboxTableInput('inbox')).toEqual({
      TableName: 'inbox',
      AttributeDefinitions: [
        { AttributeName: 'userId', AttributeType: 'N' },
        { AttributeName: 'id', AttributeType: 'S' },
        { AttributeName: 'timeline', AttributeType: 'S' },
        { AttributeName: 'unread', AttributeType: 'S' },
      ],
      // One item per notification, however many Kafka records carried it.
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'id', KeyType: 'RANGE' },
      ],
      // Local indexes, for strongly consistent reads: a page is one query of the timeline (every
      // attribute projected); the unread one is sparse and counted.
      LocalSecondaryIndexes: [
        lsi('timeline', 'timeline', 'ALL'),
        lsi('unread', 'unread', 'KEYS_ONLY'),
      ],
      BillingMode: 'PAY_PER_REQUEST',
    });
    expect(inboxTableInput('a').KeySchema).not.toBe(INBOX_TABLE.KeySchema);
  });
});

describe('inboxKeyOf', () => {
  it('keys by recipient and notification id, whatever record carried it', () => {
    const item = stored('2026-11-24T12:00:00.000Z', 2, '42');
    expect(inboxKeyOf(item.notification)).toEqual({ userId: 1, id: item.notification.id });
    const later = { ...item.notification, createdAt: '2026-11-24T12:00:05.000Z' };
    expect(inboxKeyOf(later)).toEqual(inboxKeyOf(item.notification));
    expect(toItem({ ...item, notification: later, offset: '43' })).toMatchObject(
      inboxKeyOf(item.notification),
    );
  });
});

describe('timelineOf', () => {
  it('places by creation time and zero-padded Kafka position', () => {
    const item = stored('2026-11-24T12:00:00.000Z', 2, '42');
    expect(timelineOf(item)).toBe('2026-11-24T12:00:00.000Z#00002#00000000000000000042');
    expect(timelineOf(item)).toMatch(TIMELINE_PATTERN);
  });

  it('gives a redelivered record the same place, and another record another', () => {
    const item = stored('2026-11-24T12:00:00.000Z', 0, '7');
    const again = { ...item, notification: { ...item.notification } };
    expect(timelineOf(again)).toEqual(timelineOf(item));
    expect(timelineOf({ ...item, offset: '8' })).not.toEqual(timelineOf(item));
  });

  it('sorts as text in time order, then in offset order within one time', () => {
    const chronological = [
      stored('2026-11-24T11:59:59.999Z', 0, '900'),
      stored('2026-11-24T12:00:00.000Z', 0, '9'),
      stored('2026-11-24T12:00:00.000Z', 0, '10'),
      stored('2026-11-24T12:00:00.001Z', 0, '2'),
      stored('2026-11-25T00:00:00.000Z', 0, '1'),
    ];
    const keys = chronological.map(timelineOf);
    expect([...keys].sort()).toEqual(keys);
  });

  it('writes createdAt as toISOString does, so that other precisions still sort', () => {
    const item = stored('2026-11-24T12:00:00.000Z', 0, '1');
    const seconds = {
      ...item,
      notification: { ...item.notification, createdAt: '2026-11-24T12:00:00Z' },
    };
    expect(timelineOf(seconds).startsWith('2026-11-24T12:00:00.000Z#')).toBe(true);
  });

  it.each([
    ['a negative partition', -1, '1'],
    ['a partition past 5 digits', 100_000, '1'],
    ['an offset that is not digits', 0, '-1'],
    ['an offset past 20 digits', 0, '1'.repeat(21)],
  ])('refuses %s', (_, partition, offset) => {
    expect(() => timelineOf(stored('2026-11-24T12:00:00.000Z', partition, offset))).toThrow(
      RangeError,
    );
  });
});
