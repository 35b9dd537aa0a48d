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
    ])('never delivers a plain string under a JSON pattern (%s)', (_, pattern) => {
      expect(delivered([{ value: pattern }], 'kind follow')).toBe(false);
    });

    it('never delivers a value that is not UTF-8, whatever the pattern', () => {
      const bytes = record(Buffer.from([0xff, 0xfe, 0x00]).toString('base64'));
      for (const pattern of [
        { value: ['anything'] },
        { value: [{ 'anything-but': 'x' }] },
        { value: { kind: [{ exists: false }] } },
      ]) {
        expect(compileFilters([pattern])(bytes)).toBe(false);
      }
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
    expect(delivered(patterns, 'pong')).toBe(false);
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

/** Whether a record whose raw value is `text` (exactly these characters) is delivered. */
const deliveredText = (patterns: unknown[], text: string) =>
  compileFilters(patterns)(record(Buffer.from(text, 'utf8').toString('base64')));

/**
 * AWS's filtering pages, one test per documented sentence or table row: "Control which events
 * Lambda sends to your function" (invocation-eventfiltering), "Filtering events from Amazon MSK
 * and self-managed Apache Kafka event sources" (kafka-filtering), EventBridge's "Matching events
 * on null values and empty strings", and AWS's MSK filtering sample.
 */
describe('AWS’s filtering pages, sentence by sentence', () => {
  describe('invocation-eventfiltering, "Filter rule syntax" comparison operators', () => {
    // Each row of the table: its example pattern, a value it matches and one it does not.
    it.each([
      ['Null', { UserID: [null] }, { UserID: null }, { UserID: 'x' }],
      ['Empty', { LastName: [''] }, { LastName: '' }, { LastName: 'Doe' }],
      ['Equals', { Name: ['Alice'] }, { Name: 'Alice' }, { Name: 'alice' }],
      [
        'Equals (ignore case)',
        { Name: [{ 'equals-ignore-case': 'alice' }] },
        { Name: 'ALICE' },
        { Name: 'Alicia' },
      ],
      [
        'And',
        { Location: ['New York'], Day: ['Monday'] },
        { Location: 'New York', Day: 'Monday' },
        { Location: 'New York', Day: 'Tuesday' },
      ],
      [
        'Or',
        { PaymentType: ['Credit', 'Debit'] },
        { PaymentType: 'Debit' },
        { PaymentType: 'Cash' },
      ],
      [
        'Or (multiple fields)',
        { $or: [{ Location: ['New York'] }, { Day: ['Monday'] }] },
        { Location: 'Paris', Day: 'Monday' },
        { Location: 'Paris', Day: 'Sunday' },
      ],
      [
        'Not',
        { Weather: [{ 'anything-but': ['Raining'] }] },
        { Weather: 'Sunny' },
        { Weather: 'Raining' },
      ],
      ['Numeric (equals)', { Price: [{ numeric: ['=', 100] }] }, { Price: 100 }, { Price: 101 }],
      [
        'Numeric (range)',
        { Price: [{ numeric: ['>', 10, '<=', 20] }] },
        { Price: 20 },
        { Price: 10 },
      ],
      ['Exists', { ProductName: [{ exists: true }] }, { ProductName: 'x' }, { Other: 'x' }],
      [
        'Does not exist',
        { ProductName: [{ exists: false }] },
        { Other: 'x' },
        { ProductName: 'x' },
      ],
      [
        'Begins with',
        { Region: [{ prefix: 'us-' }] },
        { Region: 'us-east-1' },
        { Region: 'eu-us-' },
      ],
      [
        'Ends with',
        { FileName: [{ suffix: '.png' }] },
        { FileName: 'a.png' },
        { FileName: 'a.jpg' },
      ],
    ])('%s: matches its example, and not a value outside it', (_, pattern, yes, no) => {
      expect(delivered([{ value: pattern }], yes)).toBe(true);
      expect(delivered([{ value: pattern }], no)).toBe(false);
    });
  });

  describe('"For numbers, Lambda also uses string representation. For example, 300, 300.0, and 3.0e2 are not considered equal."', () => {
    it.each([
      ['300', true],
      ['300.0', false],
      ['3.0e2', false],
      ['3e2', false],
    ])('an exact 300 against a value written %s gives %s', (written, expected) => {
      expect(deliveredText([{ value: { code: [300] } }], `{"code":${written}}`)).toBe(expected);
    });

    it('matches an exact 300.0 (a pattern given as CloudFormation text) only against 300.0', () => {
      const pattern = '{"value":{"code":[300.0]}}';
      expect(deliveredText([pattern], '{"code":300.0}')).toBe(true);
      expect(deliveredText([pattern], '{"code":300}')).toBe(false);
    });

    it('compares anything-but numbers by their text too', () => {
      const pattern = { value: { code: [{ 'anything-but': [300] }] } };
      expect(deliveredText([pattern], '{"code":300}')).toBe(false);
      expect(deliveredText([pattern], '{"code":300.0}')).toBe(true);
    });

    it('compares numeric operators by value, so 300.0 and 3.0e2 are = 300 there', () => {
      for (const written of ['300', '300.0', '3.0e2']) {
        expect(
          deliveredText([{ value: { code: [{ numeric: ['=', 300] }] } }], `{"code":${written}}`),
        ).toBe(true);
      }
    });

    it('neither throws nor delivers on a value nested deeper than the parser goes', () => {
      const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
      expect(deliveredText([{ value: { a: [1] } }], deep)).toBe(false);
    });

    it('never lets a number in text match an exact number, nor the reverse', () => {
      expect(deliveredText([{ value: { code: [300] } }], '{"code":"300"}')).toBe(false);
      expect(deliveredText([{ value: { code: ['300'] } }], '{"code":300}')).toBe(false);
    });

    it('keeps an exact number pattern working in arrays, nested fields and $or', () => {
      const pattern = { value: { a: { b: [7] }, $or: [{ c: [1] }, { d: [2] }] } };
      expect(deliveredText([pattern], '{"a":{"b":[5,7]},"d":2}')).toBe(true);
      expect(deliveredText([pattern], '{"a":{"b":[5,7.0]},"d":2}')).toBe(false);
      expect(deliveredText([pattern], '{"a":{"b":[7]},"d":2.0}')).toBe(false);
    });

    it('reads numbers next to strings that hold quotes, escapes and "__proto__" keys', () => {
      const text = '{"__proto__":{"x":1},"s":"a\\"b\\\\","n":-0.5e-3,"t":true}';
      // -0.5e-3 written in a pattern object reaches AWS as -0.0005 (JSON.stringify).
      expect(deliveredText([{ value: { n: [-0.5e-3], s: ['a"b\\'] } }], text)).toBe(false);
      expect(deliveredText(['{"value":{"n":[-0.5e-3],"s":["a\\"b\\\\"]}}'], text)).toBe(true);
      expect(deliveredText(['{"value":{"n":[-0.5e-3],"t":[true]}}'], text)).toBe(true);
      expect(deliveredText(['{"value":{"__proto__":{"x":[1]}}}'], text)).toBe(true);
    });
  });

  it('"Like EventBridge, for strings, Lambda uses exact character-by-character matching without case-folding or any other string normalization."', () => {
    expect(delivered([{ value: { name: ['Zoë'] } }], { name: 'Zoë' })).toBe(true);
    expect(delivered([{ value: { name: ['Zoë'] } }], { name: 'zoë' })).toBe(false);
    // The same letter as e + combining diaeresis: not normalized.
    expect(delivered([{ value: { name: ['Zoë'] } }], { name: 'Zoe\u0308' })).toBe(false);
    expect(delivered([{ value: { name: ['Zoë'] } }], { name: 'Zoë ' })).toBe(false);
  });

  it('"the Exists operator only works on leaf nodes in your event source JSON. It doesn’t match intermediate nodes."', () => {
    // AWS's example: exists on "address" does not match when address is an object.
    const pattern = { value: { person: { address: [{ exists: true }] } } };
    expect(delivered([pattern], { person: { name: 'Emma', address: { street: 'x' } } })).toBe(
      false,
    );
    expect(delivered([pattern], { person: { address: 'Main St' } })).toBe(true);
  });

  it('EventBridge: "Null values and empty strings are not interchangeable"', () => {
    expect(delivered([{ value: { a: [''] } }], { a: null })).toBe(false);
    expect(delivered([{ value: { a: [null] } }], { a: '' })).toBe(false);
  });

  it('"Your filters are logically ORed together. ... If none of your filters are satisfied, Lambda discards the record."', () => {
    const patterns = [{ value: { a: [1] } }, { value: { b: [2] } }];
    expect(delivered(patterns, { a: 1 })).toBe(true);
    expect(delivered(patterns, { b: 2 })).toBe(true);
    expect(delivered(patterns, { a: 2, b: 1 })).toBe(false);
  });

  describe('kafka-filtering: "if the message format doesn’t match the FilterCriteria format" (its table), as AWS’s sample observed it', () => {
    it.each([
      ['a plain string, a plain-string pattern', ['OrderNumber:1'], [{ prefix: 'Order' }], true],
      ['a plain string, a JSON pattern', ['OrderNumber:1'], { kind: ['Event'] }, false],
      ['JSON, a plain-string pattern', [{ kind: 'Event' }], [{ prefix: '{' }], false],
      ['JSON, a JSON pattern', [{ kind: 'Event' }], { kind: ['Event'] }, true],
    ])('%s: delivered? %s', (_, [value], pattern, expected) => {
      expect(delivered([{ value: pattern }], value)).toBe(expected);
    });

    it('a value that is not UTF-8 under a JSON pattern, a plain-string pattern, or no value rule that fits: not delivered', () => {
      const latin1 = record(Buffer.from('caf\xe9', 'latin1').toString('base64'));
      expect(compileFilters([{ value: [{ prefix: 'caf' }] }])(latin1)).toBe(false);
      expect(compileFilters([{ value: { a: [{ exists: false }] } }])(latin1)).toBe(false);
      expect(compileFilters(undefined)(latin1)).toBe(true);
    });
  });

  describe('aws-samples/serverless-patterns lambda-esm-msk-filters-sam, its "Results" table', () => {
    const events: Record<string, unknown> = {
      'base-json': {
        fileNameForValidation: 'base-json',
        kind: 'Event',
        RBAC: false,
        responseStatus: { metadata: {}, code: 200 },
      },
      'code-is-300': {
        fileNameForValidation: 'code-is-300',
        kind: 'Event',
        RBAC: false,
        responseStatus: { metadata: {}, code: 300 },
      },
      'custom-with-region': {
        fileNameForValidation: 'custom-with-region',
        kind: 'Custom',
        region: 'us-east-1',
        RBAC: false,
        responseStatus: { metadata: {}, code: 200 },
      },
      'rbac-is-set': {
        fileNameForValidation: 'rbac-is-set',
        kind: 'Event',
        RBAC: true,
        responseStatus: { metadata: {}, code: 200 },
      },
      'plain-string': 'OrderNumber:12345',
    };
    // Y/N per event, in the order above, as the sample's README reports them.
    it.each([
      ['no filter', [], 'YYYYY'],
      ['{"value":{"kind":["Event"]}}', [{ value: { kind: ['Event'] } }], 'YYNYN'],
      [
        'kind Event and code = 300',
        [{ value: { kind: ['Event'], responseStatus: { code: [{ numeric: ['=', 300] }] } } }],
        'NYNNN',
      ],
      [
        'code >= 300, or RBAC true',
        [
          { value: { responseStatus: { code: [{ numeric: ['>=', 300] }] } } },
          { value: { RBAC: [true] } },
        ],
        'NYNYN',
      ],
      ['kind anything-but Event', [{ value: { kind: [{ 'anything-but': ['Event'] }] } }], 'NNYNN'],
      ['region prefix us-', [{ value: { region: [{ prefix: 'us-' }] } }], 'NNYNN'],
      [
        'code from 300 to 350',
        [{ value: { responseStatus: { code: [{ numeric: ['>=', 300, '<=', 350] }] } } }],
        'NYNNN',
      ],
      ['plain-string prefix OrderNumber', [{ value: [{ prefix: 'OrderNumber' }] }], 'NNNNY'],
    ])('%s: %s', (_, patterns, expected) => {
      const got = Object.values(events)
        .map((value) => (delivered(patterns, value) ? 'Y' : 'N'))
        .join('');
      expect(got).toBe(expected);
    });
  });
});
