import { describe, expect, it } from 'vitest';
import { compileFilters, filterData } from '../src/filter.js';
import { b64 } from './support.js';

/** A Lambda record with this base64 value, as the filter sees it. */
const record = (value: string | null) => ({ value });

/** Whether a record whose value is `value` (an object as JSON, a string as text) is delivered. */
const delivered = (patterns: unknown[] | undefined, value: unknown) =>
  compileFilters(patterns)(record(value === null ? null : b64(value)));

const notification = {
  kind: 'follow',
  from: { id: 2, name: 'Bruno' },
  to: { id: 1, name: 'Emma' },
  priority: 3,
  tags: ['social', 'mobile'],
  urgent: false,
  note: null,
  message: 'Bruno started following you.',
};

describe('filterData', () => {
  it.each([
    ['a JSON object as the parsed object', { a: 1 }, { value: { a: 1 } }],
    ['plain text as a string', 'hello', { value: 'hello' }],
    ['a JSON number as its text', '42', { value: '42' }],
    ['a JSON array as its text', '[1,2]', { value: '[1,2]' }],
    ['a JSON string literal as its text', '"quoted"', { value: '"quoted"' }],
    ['a tombstone as null', null, { value: null }],
  ])('reads %s', (_, value, expected) => {
    expect(filterData(record(value === null ? null : b64(value))).data).toEqual(expected);
  });
});

describe('compileFilters', () => {
  it.each([
    ['no filters', undefined],
    ['an empty filter list', []],
  ])('delivers every record with %s', (_, patterns) => {
    for (const value of [notification, 'plain', '', null]) {
      expect(delivered(patterns, value)).toBe(true);
    }
  });

  describe('on JSON values ({"value": {...}} patterns)', () => {
    it.each([
      ['an exact string', { kind: ['follow'] }, true],
      ['one of several exact strings', { kind: ['like', 'follow'] }, true],
      ['a different exact string', { kind: ['like'] }, false],
      ['an exact number', { priority: [3] }, true],
      ['a number given as a string', { priority: ['3'] }, false],
      ['an exact boolean', { urgent: [false] }, true],
      ['an exact null', { note: [null] }, true],
      ['a nested field', { from: { name: ['Bruno'] } }, true],
      ['a nested field with another value', { from: { name: ['Emma'] } }, false],
      ['two fields, both matching', { kind: ['follow'], to: { id: [1] } }, true],
      ['two fields, one not matching', { kind: ['follow'], to: { id: [2] } }, false],
      ['an array field by any element', { tags: ['mobile'] }, true],
      ['an array field when no element matches', { tags: ['email'] }, false],
      ['a field that is missing', { missing: ['x'] }, false],
      ['a nested pattern on a scalar field', { kind: { sub: ['x'] } }, false],
    ])('matches %s? %s', (_, pattern, expected) => {
      expect(delivered([{ value: pattern }], notification)).toBe(expected);
    });
  });

  describe('on plain string values ({"value": [...]} patterns)', () => {
    it.each([
      ['the exact string', ['ping'], 'ping', true],
      ['another string', ['pong'], 'ping', false],
      ['a prefix', [{ prefix: 'pi' }], 'ping', true],
      ['the empty string', [''], '', true],
      ['text that only looks like a number', [42], '42', false],
      ['text that only looks like a number, as a string', ['42'], '42', true],
    ])('matches %s', (_, pattern, value, expected) => {
      expect(delivered([{ value: pattern }], value)).toBe(expected);
    });
  });

  describe('keeps JSON and string patterns apart', () => {
    it.each([
      ['an exact string', ['{"kind":"follow"}']],
      ['a prefix', [{ prefix: '{' }]],
      ['a suffix', [{ suffix: '}' }]],
      ['a wildcard', [{ wildcard: '*' }]],
      ['equals-ignore-case', [{ 'equals-ignore-case': '{"KIND":"FOLLOW"}' }]],
      ['a numeric range', [{ numeric: ['>', 0] }]],
      ['anything-but', [{ 'anything-but': 'ping' }]],
      ['anything-but a prefix', [{ 'anything-but': { prefix: 'ping' } }]],
      ['exists: true', [{ exists: true }]],
      ['exists: false', [{ exists: false }]],
    ])('never matches a JSON value with a string pattern (%s)', (_, pattern) => {
      expect(delivered([{ value: pattern }], { kind: 'follow' })).toBe(false);
    });

    it.each([
      ['a field pattern', { kind: ['follow'] }],
      ['an exists pattern', { kind: [{ exists: true }] }],
      ['an absence pattern', { kind: [{ exists: false }] }],
      ['an anything-but pattern', { kind: [{ 'anything-but': 'x' }] }],
    ])(
      'delivers a plain string under a JSON pattern, whose value clause AWS then ignores (%s)',
      (_, pattern) => {
        expect(delivered([{ value: pattern }], 'kind follow')).toBe(true);
      },
    );

    it('delivers a value that is not UTF-8 whatever the pattern, as AWS ignores the value clause', () => {
      const bytes = compileFilters([{ value: ['anything'] }]);
      expect(bytes(record(Buffer.from([0xff, 0xfe, 0x00]).toString('base64')))).toBe(true);
    });
  });

  describe('comparison operators', () => {
    it.each([
      ['prefix', { prefix: 'Bru' }, 'Bruno', true],
      ['prefix', { prefix: 'bru' }, 'Bruno', false],
      [
        'prefix with equals-ignore-case',
        { prefix: { 'equals-ignore-case': 'bRU' } },
        'Bruno',
        true,
      ],
      ['suffix', { suffix: 'no' }, 'Bruno', true],
      ['suffix', { suffix: 'Bru' }, 'Bruno', false],
      ['equals-ignore-case', { 'equals-ignore-case': 'BRUNO' }, 'Bruno', true],
      ['equals-ignore-case', { 'equals-ignore-case': 'BRUN' }, 'Bruno', false],
      ['anything-but a value', { 'anything-but': 'Emma' }, 'Bruno', true],
      ['anything-but a value', { 'anything-but': 'Bruno' }, 'Bruno', false],
      ['anything-but a list', { 'anything-but': ['Emma', 'Rick'] }, 'Bruno', true],
      ['anything-but a list', { 'anything-but': ['Emma', 'Bruno'] }, 'Bruno', false],
      ['anything-but a number', { 'anything-but': [1, 2] }, 3, true],
      ['anything-but a number', { 'anything-but': [3] }, 3, false],
      ['anything-but a prefix', { 'anything-but': { prefix: 'Em' } }, 'Bruno', true],
      ['anything-but a prefix', { 'anything-but': { prefix: 'Br' } }, 'Bruno', false],
      ['numeric >', { numeric: ['>', 2] }, 3, true],
      ['numeric >', { numeric: ['>', 3] }, 3, false],
      ['numeric >=', { numeric: ['>=', 3] }, 3, true],
      ['numeric <', { numeric: ['<', 3] }, 3, false],
      ['numeric <=', { numeric: ['<=', 3] }, 3, true],
      ['numeric =', { numeric: ['=', 3] }, 3, true],
      ['numeric =', { numeric: ['=', 3.5] }, 3, false],
      ['numeric range', { numeric: ['>', 0, '<=', 5] }, 5, true],
      ['numeric range', { numeric: ['>', 0, '<=', 5] }, 6, false],
      ['numeric range', { numeric: ['>', 0, '<=', 5] }, 0, false],
      ['numeric on a string', { numeric: ['>', 0] }, '5', false],
      ['wildcard', { wildcard: 'Br*o' }, 'Bruno', true],
      ['wildcard', { wildcard: '*un*' }, 'Bruno', true],
      ['wildcard', { wildcard: 'Br*a' }, 'Bruno', false],
      ['wildcard with regex characters', { wildcard: 'a.b*' }, 'a.bc', true],
      ['wildcard with regex characters', { wildcard: 'a.b*' }, 'axbc', false],
    ])('%s %j on %j gives %s', (_, rule, fieldValue, expected) => {
      expect(delivered([{ value: { field: [rule] } }], { field: fieldValue })).toBe(expected);
    });

    it.each([
      ['exists: true on a present field', { field: [{ exists: true }] }, { field: 'x' }, true],
      ['exists: true on a missing field', { field: [{ exists: true }] }, { other: 'x' }, false],
      ['exists: false on a missing field', { field: [{ exists: false }] }, { other: 'x' }, true],
      ['exists: false on a present field', { field: [{ exists: false }] }, { field: 'x' }, false],
      ['exists: true on a null field', { field: [{ exists: true }] }, { field: null }, true],
      [
        'exists: false on a missing nested field',
        { a: { b: [{ exists: false }] } },
        { a: { c: 1 } },
        true,
      ],
    ])('%s gives %s', (_, pattern, value, expected) => {
      expect(delivered([{ value: pattern }], value)).toBe(expected);
    });

    it('does not let a leaf rule match an object inside an array', () => {
      const value = { tags: [{ name: 'x' }, 'mobile'] };
      expect(delivered([{ value: { tags: [{ 'anything-but': 'x' }] } }], value)).toBe(true);
      expect(delivered([{ value: { tags: [{ 'anything-but': 'mobile' }] } }], value)).toBe(false);
    });

    it('does not let anything-but match a missing field', () => {
      expect(delivered([{ value: { field: [{ 'anything-but': 'x' }] } }], { other: 1 })).toBe(
        false,
      );
    });

    it('applies prefix and anything-but to plain string values too', () => {
      expect(delivered([{ value: [{ prefix: 'ERROR' }] }], 'ERROR disk full')).toBe(true);
      expect(delivered([{ value: [{ 'anything-but': { prefix: 'DEBUG' } }] }], 'INFO up')).toBe(
        true,
      );
      expect(delivered([{ value: [{ 'anything-but': { prefix: 'DEBUG' } }] }], 'DEBUG x')).toBe(
        false,
      );
    });
  });

  describe('$or', () => {
    const pattern = {
      value: { kind: ['follow'], $or: [{ priority: [{ numeric: ['>', 5] }] }, { urgent: [true] }] },
    };

    it.each([
      ['neither branch matches', { kind: 'follow', priority: 3, urgent: false }, false],
      ['the first branch matches', { kind: 'follow', priority: 9, urgent: false }, true],
      ['the second branch matches', { kind: 'follow', priority: 1, urgent: true }, true],
      ['a branch matches but another field does not', { kind: 'like', priority: 9 }, false],
    ])('delivers when %s? %s', (_, value, expected) => {
      expect(delivered([pattern], value)).toBe(expected);
    });
  });

  it('delivers a record that matches any one of several filters', () => {
    const patterns = [
      { value: { kind: ['like'] } },
      { value: { kind: ['follow'] } },
      { value: ['ping'] },
    ];
    expect(delivered(patterns, { kind: 'follow' })).toBe(true);
    expect(delivered(patterns, 'ping')).toBe(true);
    expect(delivered(patterns, { kind: 'comment' })).toBe(false);
    expect(delivered([{ value: ['ping'] }, { value: ['pang'] }], 'pong')).toBe(false);
    // A plain string under a JSON pattern: AWS ignores that pattern's value clause.
    expect(delivered(patterns, 'pong')).toBe(true);
  });

  it('reads patterns given as JSON strings, as CloudFormation’s Pattern holds them', () => {
    const fromString = compileFilters(['{ "value" : { "device_ID" : [ { "prefix": "AB" } ] } }']);
    expect(fromString(record(b64({ device_ID: 'AB1234' })))).toBe(true);
    expect(fromString(record(b64({ device_ID: 'CD1234' })))).toBe(false);
  });

  it('matches a pattern on a non-ASCII value after UTF-8 decoding', () => {
    expect(delivered([{ value: { name: ['Zoë'] } }], { name: 'Zoë' })).toBe(true);
    expect(delivered([{ value: ['héllo'] }], 'héllo')).toBe(true);
  });

  it.each([
    ['an object pattern', { value: { kind: ['follow'] } }],
    ['a string pattern', { value: [{ prefix: '' }] }],
    ['an exists: false pattern on a field', { value: { kind: [{ exists: false }] } }],
  ])('never delivers a tombstone (null value) with %s', (_, pattern) => {
    expect(delivered([pattern], null)).toBe(false);
  });

  it('delivers a tombstone when there are no filters, or to an exact null pattern', () => {
    expect(compileFilters([])(record(null))).toBe(true);
    expect(delivered([{ value: [null] }], null)).toBe(true);
    expect(delivered([{ value: [null] }], 'null-ish')).toBe(false);
  });

  it.each([
    ['a pattern that is not JSON', ['{ value: nope'], /filter 1 is not valid JSON/],
    ['a JSON array pattern', ['[1,2]'], /filter 1 \(\[1,2\]\) must be an object/],
    ['a number', [42], /filter 1 \(42\) must be an object/],
    ['null as the second pattern', [{ value: ['a'] }, null], /filter 2 \(null\) must be an object/],
  ])('throws for %s', (_, patterns, error) => {
    expect(() => compileFilters(patterns)).toThrow(error);
  });
});
