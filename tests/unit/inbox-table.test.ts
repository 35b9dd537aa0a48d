import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  INBOX_TABLE,
  inboxKeyOf,
  inboxTableInput,
  SORT_KEY_PATTERN,
} from '../../shared/inbox/table.js';
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
    const { TableName, ...properties } = resource.Properties;
    expect(TableName).toBe(['$', '{param:inboxTable}'].join(''));
    const { TableName: _name, ...definition } = inboxTableInput('any');
    expect(properties).toEqual(definition);
  });

  it('is keyed by recipient id (a number) and a text sort key, billed per request', () => {
    const lsi = (name: string, sort: string) => ({
      IndexName: name,
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: sort, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    });
    expect(inboxTableInput('inbox')).toEqual({
      TableName: 'inbox',
      AttributeDefinitions: [
        { AttributeName: 'userId', AttributeType: 'N' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'unread', AttributeType: 'S' },
        { AttributeName: 'id', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      // Strongly consistent reads of the read state: local indexes (the unread one is sparse).
      LocalSecondaryIndexes: [lsi('unread', 'unread'), lsi('byId', 'id')],
      BillingMode: 'PAY_PER_REQUEST',
    });
    expect(inboxTableInput('a').KeySchema).not.toBe(INBOX_TABLE.KeySchema);
  });
});

describe('inboxKeyOf', () => {
  it('keys by recipient, creation time and zero-padded Kafka position', () => {
    const item = stored('2026-11-24T12:00:00.000Z', 2, '42');
    expect(inboxKeyOf(item)).toEqual({
      userId: 1,
      sk: '2026-11-24T12:00:00.000Z#00002#00000000000000000042',
    });
    expect(inboxKeyOf(item).sk).toMatch(SORT_KEY_PATTERN);
  });

  it('gives a redelivered record the same key, and another record another', () => {
    const item = stored('2026-11-24T12:00:00.000Z', 0, '7');
    const again = { ...item, notification: { ...item.notification } };
    expect(inboxKeyOf(again)).toEqual(inboxKeyOf(item));
    expect(inboxKeyOf({ ...item, offset: '8' })).not.toEqual(inboxKeyOf(item));
  });

  it('sorts as text in time order, then in offset order within one time', () => {
    const chronological = [
      stored('2026-11-24T11:59:59.999Z', 0, '900'),
      stored('2026-11-24T12:00:00.000Z', 0, '9'),
      stored('2026-11-24T12:00:00.000Z', 0, '10'),
      stored('2026-11-24T12:00:00.001Z', 0, '2'),
      stored('2026-11-25T00:00:00.000Z', 0, '1'),
    ];
    const keys = chronological.map((s) => inboxKeyOf(s).sk);
    expect([...keys].sort()).toEqual(keys);
  });

  it('writes createdAt as toISOString does, so that other precisions still sort', () => {
    const item = stored('2026-11-24T12:00:00.000Z', 0, '1');
    const seconds = {
      ...item,
      notification: { ...item.notification, createdAt: '2026-11-24T12:00:00Z' },
    };
    expect(inboxKeyOf(seconds).sk.startsWith('2026-11-24T12:00:00.000Z#')).toBe(true);
  });

  it.each([
    ['a negative partition', -1, '1'],
    ['a partition past 5 digits', 100_000, '1'],
    ['an offset that is not digits', 0, '-1'],
    ['an offset past 20 digits', 0, '1'.repeat(21)],
  ])('refuses %s', (_, partition, offset) => {
    expect(() => inboxKeyOf(stored('2026-11-24T12:00:00.000Z', partition, offset))).toThrow(
      RangeError,
    );
  });
});
