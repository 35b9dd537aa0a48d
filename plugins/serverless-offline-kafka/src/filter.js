// @ts-check
'use strict';

/**
 * Lambda event filtering for Kafka (`FilterCriteria`; AWS invocation-eventfiltering and
 * kafka-filtering), in EventBridge pattern syntax. A record is delivered when it matches any
 * filter; with no filters, every record is. Kafka mappings filter on `value` only (a pattern
 * with any other key is refused): base64-decoded and read as UTF-8, a JSON object is matched by
 * `{"value": {...}}` patterns and anything else, as a plain string, by `{"value": [...]}` rules.
 *
 * A value whose format does not fit the pattern (a JSON pattern against a plain string, a string
 * pattern against JSON, or bytes that are not UTF-8) is not matched by that pattern. AWS's
 * kafka-filtering page says Lambda then "filters (on the other metadata properties only)"; AWS's
 * own MSK filtering sample (aws-samples/serverless-patterns `lambda-esm-msk-filters-sam`,
 * README "Results") shows what that means for a Kafka pattern, which can only filter on
 * `value`: the plain-string record `OrderNumber:12345` is not delivered to any JSON pattern
 * (`{"value":{"kind":["Event"]}}`, even `{"value":{"kind":[{"anything-but":["Event"]}]}}`), and
 * no JSON record to the string pattern `{"value":[{"prefix":"OrderNumber"}]}`.
 *
 * The grammar, all validated at start: exact values (strings, numbers, booleans, null), `prefix`
 * and `suffix` (a string, or `{"equals-ignore-case": ...}`), `equals-ignore-case`,
 * `anything-but` (a value, a list of values, or `{prefix}`, `{suffix}`, `{equals-ignore-case}`,
 * `{wildcard}`), `numeric` (one or two comparisons, or `=`), `exists`, `cidr`, `wildcard`, `$or`,
 * nested objects, and arrays in the data (a rule matches an array when it matches an element).
 * Exact numbers compare as text: "For numbers, Lambda also uses string representation. For
 * example, 300, 300.0, and 3.0e2 are not considered equal" (invocation-eventfiltering), so the
 * value is parsed keeping each number's text. `numeric` compares values, as EventBridge does:
 * within ±5e9, to 6 decimal places.
 */

const { FilterError } = require('./errors');
const { isObject } = require('./util');

/** AWS's limit without a quota raise. */
const MAX_FILTERS = 5;
const NUMERIC_LIMIT = 5e9;
const OPERATORS = new Set(['=', '<', '<=', '>', '>=']);

/** A JSON number with the text it was written as: exact matches compare the text. */
class JsonNumber {
  /** @param {string} text */
  constructor(text) {
    this.text = text;
    this.value = Number(text);
  }

  /** Shown as a plain number in messages. */
  toJSON() {
    return this.value;
  }
}

/**
 * @param {unknown} v
 * @returns {v is Record<string, unknown>} a JSON object (not a number read by `parseJson`)
 */
const isRecord = (v) => isObject(v) && !(v instanceof JsonNumber);

/** @param {unknown} v a number as JSON.parse or `parseJson` reads it, or undefined */
const numberOf = (v) => (v instanceof JsonNumber ? v.value : typeof v === 'number' ? v : undefined);

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const SPACE = /[ \t\n\r]*/y;

/**
 * Parses JSON text as JSON.parse does, except that numbers become `JsonNumber`s that keep their
 * text. Throws SyntaxError for text that is not JSON.
 * @param {string} text
 * @returns {unknown}
 */
const parseJson = (text) => {
  let at = 0;
  const space = () => {
    SPACE.lastIndex = at;
    SPACE.test(text);
    at = SPACE.lastIndex;
  };
  const fail = () => {
    throw new SyntaxError(`not JSON (at ${at})`);
  };
  /** @returns {string} */
  const string = () => {
    let end = at + 1;
    while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
    if (end >= text.length) fail();
    const raw = text.slice(at, end + 1);
    at = end + 1;
    return JSON.parse(raw);
  };
  /** @returns {unknown} */
  const value = () => {
    space();
    const c = text[at];
    if (c === '{') {
      at += 1;
      /** @type {Record<string, unknown>} */
      const object = {};
      space();
      if (text[at] === '}') {
        at += 1;
        return object;
      }
      for (;;) {
        space();
        if (text[at] !== '"') fail();
        const key = string();
        space();
        if (text[at] !== ':') fail();
        at += 1;
        // An own property even for "__proto__", as JSON.parse makes it.
        Object.defineProperty(object, key, {
          value: value(),
          enumerable: true,
          writable: true,
          configurable: true,
        });
        space();
        if (text[at] === ',') at += 1;
        else if (text[at] === '}') {
          at += 1;
          return object;
        } else fail();
      }
    }
    if (c === '[') {
      at += 1;
      /** @type {unknown[]} */
      const array = [];
      space();
      if (text[at] === ']') {
        at += 1;
        return array;
      }
      for (;;) {
        array.push(value());
        space();
        if (text[at] === ',') at += 1;
        else if (text[at] === ']') {
          at += 1;
          return array;
        } else fail();
      }
    }
    if (c === '"') return string();
    for (const [word, literal] of /** @type {const} */ ([
      ['true', true],
      ['false', false],
      ['null', null],
    ])) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return literal;
      }
    }
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (!number) return fail();
    at = NUMBER.lastIndex;
    return new JsonNumber(number[0]);
  };
  const result = value();
  space();
  if (at !== text.length) fail();
  return result;
};

/** @param {number} n */
const numeric = (n) => Math.round(n * 1e6);

/**
 * @param {string} pattern
 * @param {string} text
 * @param {boolean} [ignoreCase]
 */
const wildcardMatches = (pattern, text, ignoreCase = false) => {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, ignoreCase ? 'is' : 's').test(text);
};

/** @param {string} cidr */
const parseCidr = (cidr) => {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const bits = Number(match[5]);
  if (octets.some((o) => o > 255) || bits > 32) return undefined;
  const address = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const base = Math.floor(address / size) * size;
  return { base, size };
};

/** @param {string} ip */
const ipNumber = (ip) => {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((a, o) => a * 256 + o, 0);
};

/**
 * Checks one rule of a leaf list; throws FilterError naming what is wrong.
 * @param {unknown} rule
 * @param {string} path
 */
const checkRule = (rule, path) => {
  if (rule === null || ['string', 'boolean'].includes(typeof rule)) return;
  const number = numberOf(rule);
  if (number !== undefined) {
    if (!Number.isFinite(number) || Math.abs(number) > NUMERIC_LIMIT)
      throw new FilterError(`${path}: numbers must be within -5e9..5e9`);
    return;
  }
  if (!isRecord(rule)) throw new FilterError(`${path}: a rule must be a value or an object`);
  const keys = Object.keys(rule);
  if (keys.length !== 1) throw new FilterError(`${path}: a rule object has exactly one operator`);
  const [op] = keys;
  const arg = rule[/** @type {string} */ (op)];
  const stringOrIgnoreCase = (/** @type {unknown} */ a) =>
    typeof a === 'string' ||
    (isRecord(a) && Object.keys(a).length === 1 && typeof a['equals-ignore-case'] === 'string');
  switch (op) {
    case 'prefix':
    case 'suffix':
      if (!stringOrIgnoreCase(arg))
        throw new FilterError(`${path}: ${op} takes a string or {"equals-ignore-case": string}`);
      return;
    case 'equals-ignore-case':
    case 'wildcard':
      if (typeof arg !== 'string') throw new FilterError(`${path}: ${op} takes a string`);
      if (op === 'wildcard' && arg.includes('**'))
        throw new FilterError(`${path}: wildcard may not hold consecutive *`);
      return;
    case 'exists':
      if (typeof arg !== 'boolean') throw new FilterError(`${path}: exists takes true or false`);
      return;
    case 'cidr':
      if (typeof arg !== 'string' || !parseCidr(arg))
        throw new FilterError(`${path}: cidr takes an IPv4 range such as "10.0.0.0/24"`);
      return;
    case 'numeric': {
      if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4))
        throw new FilterError(`${path}: numeric takes ["op", n] or ["op", n, "op", n]`);
      let lower = 0;
      let upper = 0;
      for (let i = 0; i < arg.length; i += 2) {
        const o = arg[i];
        const n = numberOf(arg[i + 1]);
        if (typeof o !== 'string' || !OPERATORS.has(o))
          throw new FilterError(`${path}: numeric operator must be one of = < <= > >=`);
        if (n === undefined || !Number.isFinite(n) || Math.abs(n) > NUMERIC_LIMIT)
          throw new FilterError(`${path}: numeric bounds must be numbers within -5e9..5e9`);
        if (o === '=' && arg.length !== 2)
          throw new FilterError(`${path}: numeric "=" stands alone`);
        if (o.startsWith('>')) lower += 1;
        if (o.startsWith('<')) upper += 1;
      }
      if (lower > 1 || upper > 1)
        throw new FilterError(`${path}: numeric takes at most one lower and one upper bound`);
      return;
    }
    case 'anything-but': {
      if (isRecord(arg)) {
        const [inner, ...more] = Object.keys(arg);
        const value = arg[/** @type {string} */ (inner)];
        const ok =
          more.length === 0 &&
          (((inner === 'prefix' || inner === 'suffix') && typeof value === 'string') ||
            ((inner === 'equals-ignore-case' || inner === 'wildcard') &&
              (typeof value === 'string' ||
                (Array.isArray(value) && value.every((v) => typeof v === 'string')))));
        if (!ok)
          throw new FilterError(
            `${path}: anything-but takes a value, a list, or {prefix | suffix | equals-ignore-case | wildcard}`,
          );
        return;
      }
      const values = Array.isArray(arg) ? arg : [arg];
      if (
        values.length === 0 ||
        !(
          values.every((v) => typeof v === 'string') ||
          values.every((v) => numberOf(v) !== undefined)
        )
      )
        throw new FilterError(`${path}: anything-but lists only strings or only numbers`);
      return;
    }
    default:
      throw new FilterError(`${path}: unknown operator ${JSON.stringify(op)}`);
  }
};

/**
 * Checks a pattern object; throws FilterError naming where and what is wrong.
 * @param {unknown} pattern
 * @param {string} path
 */
const checkPattern = (pattern, path) => {
  if (!isRecord(pattern)) throw new FilterError(`${path} must be an object`);
  const keys = Object.keys(pattern);
  if (keys.length === 0) throw new FilterError(`${path} is empty`);
  for (const key of keys) {
    const value = pattern[key];
    const at = `${path}.${key}`;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2)
        throw new FilterError(`${at} takes a list of at least two patterns`);
      for (const [i, branch] of value.entries()) checkPattern(branch, `${at}[${i}]`);
    } else if (Array.isArray(value)) {
      if (value.length === 0)
        throw new FilterError(`${at} is an empty list, which matches nothing`);
      for (const [i, rule] of value.entries()) checkRule(rule, `${at}[${i}]`);
    } else if (isRecord(value)) {
      checkPattern(value, at);
    } else {
      throw new FilterError(`${at} must be a list of rules or an object`);
    }
  }
};

/**
 * Whether one scalar matches one rule.
 * @param {unknown} rule
 * @param {unknown} value
 * @returns {boolean}
 */
const ruleMatches = (rule, value) => {
  if (!isRecord(rule)) {
    // Numbers by their text: 300, 300.0 and 3.0e2 are not equal (invocation-eventfiltering).
    if (rule instanceof JsonNumber) return value instanceof JsonNumber && value.text === rule.text;
    return rule === value;
  }
  const [op] = Object.keys(rule);
  const arg = rule[/** @type {string} */ (op)];
  const text = typeof value === 'string' ? value : undefined;
  switch (op) {
    case 'prefix':
    case 'suffix': {
      if (text === undefined) return false;
      const ignoreCase = isRecord(arg);
      const needle = String(ignoreCase ? arg['equals-ignore-case'] : arg);
      const hay = ignoreCase ? text.toLowerCase() : text;
      const n = ignoreCase ? needle.toLowerCase() : needle;
      return op === 'prefix' ? hay.startsWith(n) : hay.endsWith(n);
    }
    case 'equals-ignore-case':
      return text !== undefined && text.toLowerCase() === String(arg).toLowerCase();
    case 'wildcard':
      return text !== undefined && wildcardMatches(String(arg), text);
    case 'cidr': {
      const range = parseCidr(String(arg));
      const ip = text === undefined ? undefined : ipNumber(text);
      return (
        range !== undefined && ip !== undefined && ip >= range.base && ip < range.base + range.size
      );
    }
    case 'numeric': {
      const n = numberOf(value);
      if (n === undefined) return false;
      const v = numeric(n);
      const conditions = /** @type {unknown[]} */ (arg);
      for (let i = 0; i + 1 < conditions.length; i += 2) {
        const bound = numeric(Number(numberOf(conditions[i + 1])));
        const o = conditions[i];
        const ok =
          o === '='
            ? v === bound
            : o === '<'
              ? v < bound
              : o === '<='
                ? v <= bound
                : o === '>'
                  ? v > bound
                  : v >= bound;
        if (!ok) return false;
      }
      return true;
    }
    case 'anything-but': {
      if (isRecord(arg)) {
        if (text === undefined) return false;
        const [inner] = Object.keys(arg);
        const raw = arg[/** @type {string} */ (inner)];
        const list = (Array.isArray(raw) ? raw : [raw]).map(String);
        if (inner === 'prefix') return !list.some((p) => text.startsWith(p));
        if (inner === 'suffix') return !list.some((p) => text.endsWith(p));
        if (inner === 'equals-ignore-case')
          return !list.some((p) => p.toLowerCase() === text.toLowerCase());
        return !list.some((p) => wildcardMatches(p, text));
      }
      const excluded = Array.isArray(arg) ? arg : [arg];
      return !excluded.some((x) => ruleMatches(x, value));
    }
    default:
      return false;
  }
};

/**
 * Whether a leaf list matches a field (absent when `present` is false).
 * @param {unknown[]} rules
 * @param {boolean} present
 * @param {unknown} actual
 */
const fieldMatches = (rules, present, actual) =>
  !isRecord(actual) &&
  rules.some((rule) => {
    if (isRecord(rule) && 'exists' in rule) return rule.exists === present;
    if (!present) return false;
    const values = Array.isArray(actual) ? actual.filter((v) => !isRecord(v)) : [actual];
    return values.some((v) => ruleMatches(rule, v));
  });

/**
 * Whether `data` matches `pattern` (every key matches; `$or` needs one branch to). An array of
 * objects in the data matches a nested pattern when one of its elements does.
 * @param {Record<string, unknown>} pattern
 * @param {unknown} data
 * @returns {boolean}
 */
const matches = (pattern, data) => {
  if (Array.isArray(data)) return data.some((element) => matches(pattern, element));
  for (const key of Object.keys(pattern)) {
    const expected = pattern[key];
    if (key === '$or') {
      const branches = /** @type {Record<string, unknown>[]} */ (expected);
      if (!branches.some((branch) => matches(branch, data))) return false;
      continue;
    }
    const present = isRecord(data) && Object.hasOwn(data, key);
    const actual = present ? /** @type {Record<string, unknown>} */ (data)[key] : undefined;
    if (Array.isArray(expected)) {
      if (!fieldMatches(expected, present, actual)) return false;
    } else if (
      !(isRecord(actual) || Array.isArray(actual)) ||
      !matches(/** @type {Record<string, unknown>} */ (expected), actual)
    ) {
      return false;
    }
  }
  return true;
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * What a filter sees of a record: its value (null for a tombstone; left out for bytes that are
 * not UTF-8), and whether the value was a JSON object. With `keepNumberText`, the JSON's
 * numbers are `JsonNumber`s (for patterns with exact numbers; JSON.parse is faster otherwise).
 * @param {{ value: string | null }} record
 * @param {boolean} [keepNumberText]
 */
const filterData = (record, keepNumberText = false) => {
  /** @type {Record<string, unknown>} */
  const data = {};
  if (record.value === null) {
    data.value = null;
    return { data, json: false, utf8: true };
  }
  let text;
  try {
    text = utf8.decode(Buffer.from(record.value, 'base64'));
  } catch {
    return { data, json: false, utf8: false };
  }
  try {
    const parsed = keepNumberText ? parseJson(text) : JSON.parse(text);
    if (isRecord(parsed)) {
      data.value = parsed;
      return { data, json: true, utf8: true };
    }
  } catch {
    // not JSON (or nested deeper than the parser goes): matched as a plain string
  }
  data.value = text;
  return { data, json: false, utf8: true };
};

/**
 * Whether a pattern holds an exact number (outside `numeric`), which compares by text.
 * @param {unknown} node
 * @returns {boolean}
 */
const hasExactNumber = (node) => {
  if (node instanceof JsonNumber) return true;
  if (Array.isArray(node)) return node.some(hasExactNumber);
  if (!isRecord(node)) return false;
  return Object.entries(node).some(([key, child]) => key !== 'numeric' && hasExactNumber(child));
};

/**
 * Compiles filter patterns (objects, or JSON strings as in CloudFormation) into a predicate over
 * Lambda records. Throws FilterError, naming the filter and the problem, for a pattern AWS
 * would refuse.
 * @param {readonly unknown[] | undefined} patterns
 * @returns {(record: { value: string | null }) => boolean}
 */
const compileFilters = (patterns) => {
  if (!patterns || patterns.length === 0) return () => true;
  const parsed = patterns.map((p, i) => {
    // Objects as the framework writes them into Pattern (JSON.stringify), so that numbers have
    // the text AWS receives.
    const source = typeof p === 'string' ? p : String(JSON.stringify(p));
    let pattern;
    try {
      pattern = parseJson(source);
    } catch (error) {
      throw new FilterError(`filter ${i + 1} is not valid JSON: ${source.slice(0, 200)}`, {
        cause: error,
      });
    }
    const where = `filter ${i + 1} (${JSON.stringify(pattern).slice(0, 200)})`;
    checkPattern(pattern, where);
    for (const key of Object.keys(/** @type {object} */ (pattern))) {
      if (key !== 'value')
        throw new FilterError(
          `${where}: Kafka mappings filter on "value" only, not ${JSON.stringify(key)}`,
        );
    }
    const object = /** @type {Record<string, unknown>} */ (pattern);
    return { pattern: object, jsonValue: isRecord(object.value) };
  });
  const keepNumberText = parsed.some(({ pattern }) => hasExactNumber(pattern));
  return (record) => {
    const { data, json, utf8: isText } = filterData(record, keepNumberText);
    return parsed.some(({ pattern, jsonValue }) => {
      // A value whose format does not fit the pattern never matches it (see the top of this
      // file: kafka-filtering's table, and the lambda-esm-msk-filters-sam results). A tombstone
      // fits both: its null value is matched as it is.
      const fits = isText && (data.value === null || jsonValue === json);
      return fits && matches(pattern, data);
    });
  };
};

module.exports = { MAX_FILTERS, compileFilters, filterData, matches, parseJson };
