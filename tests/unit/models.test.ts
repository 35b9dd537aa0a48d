import { describe, expect, it } from 'vitest';
import {
  characterCount,
  createNotification,
  DEFAULT_USERS,
  NotificationSchema,
  UserDirectory,
  UserDirectorySchema,
} from '../../shared/models/index.js';

describe('users', () => {
  it('defaults to the demo four users', () => {
    expect(DEFAULT_USERS).toEqual([
      { id: 1, name: 'Emma' },
      { id: 2, name: 'Bruno' },
      { id: 3, name: 'Rick' },
      { id: 4, name: 'Lena' },
    ]);
  });

  it('finds users by id and nothing for an unknown id', () => {
    const users = new UserDirectory(DEFAULT_USERS);
    expect(users.find(4)).toEqual({ id: 4, name: 'Lena' });
    expect(users.find(5)).toBeUndefined();
  });

  it.each([
    [
      'duplicate ids',
      [
        { id: 1, name: 'A' },
        { id: 1, name: 'B' },
      ],
    ],
    ['no users', []],
    ['a zero id', [{ id: 0, name: 'A' }]],
    ['an empty name', [{ id: 1, name: '' }]],
  ])('rejects a directory with %s', (_, users) => {
    expect(UserDirectorySchema.safeParse(users).success).toBe(false);
  });
});

describe('notifications', () => {
  const emma = { id: 1, name: 'Emma' };
  const bruno = { id: 2, name: 'Bruno' };

  it('creates a valid notification with a unique id and the demo field names', () => {
    const now = new Date('2026-11-24T10:00:00.000Z');
    const a = createNotification(bruno, emma, 'Bruno started following you.', now);
    const b = createNotification(bruno, emma, 'Bruno started following you.', now);
    expect(NotificationSchema.parse(a)).toEqual(a);
    expect(a.id).not.toBe(b.id);
    expect(JSON.parse(JSON.stringify(a))).toEqual({
      id: a.id,
      from: { id: 2, name: 'Bruno' },
      to: { id: 1, name: 'Emma' },
      message: 'Bruno started following you.',
      createdAt: '2026-11-24T10:00:00.000Z',
    });
  });

  it.each([
    ['a missing id', { id: undefined }],
    ['a blank message', { message: '   ' }],
    ['a message of 2,001 characters', { message: 'x'.repeat(2001) }],
    ['a date that is not ISO 8601', { createdAt: 'yesterday' }],
    ['a recipient without a name', { to: { id: 1 } }],
  ])('rejects %s', (_, change) => {
    const valid = createNotification(bruno, emma, 'hi');
    expect(NotificationSchema.safeParse({ ...valid, ...change }).success).toBe(false);
  });

  it('counts characters as code points, so emoji count once', () => {
    expect(characterCount('héllo')).toBe(5);
    expect(characterCount('👋🏽')).toBe(2);
    expect('👋'.length).toBe(2);
    expect(characterCount('👋')).toBe(1);
  });

  it('accepts a message of exactly 2,000 characters, emoji included', () => {
    const valid = createNotification(bruno, emma, '👋'.repeat(2000));
    expect(NotificationSchema.safeParse(valid).success).toBe(true);
  });
});
