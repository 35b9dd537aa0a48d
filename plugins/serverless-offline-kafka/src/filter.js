// @ts-check
'use strict';

/**
 * Lambda event filtering for Kafka (`FilterCriteria`; AWS invocation-eventfiltering and
 * kafka-filtering), in EventBridge pattern syntax. A record is delivered when it matches any
 * filter; with no filters, every record is. Kafka mappings filter on `value` only (a pattern
 * with any other key is refused): base64-decoded and read as UTF-8, a JSON object is matched by
 * `{"value": {...}}` patterns and anything else, as a plain string, by `{"value": [...]}` rules.
 * When the pattern's format does not fit the value (a JSON pattern against a plain string, or
 * bytes that are not UTF-8), AWS "filters on the other metadata properties only, ignoring the
 * filter criteria" for the value (invocation-eventfiltering): for Kafka, with nothing else to
 * filter on, the record is delivered.
 *
 * The grammar, all validated at start: exact values (strings, numbers, booleans, null), `prefix`
 * and `suffix` (a string, or `{"equals-ignore-case": ...}`), `equals-ignore-case`,
 * `anything-but` (a value, a list of values, or `{prefix}`, `{suffix}`, `{equals-ignore-case}`,
 * `{wildcard}`), `numeric` (one or two comparisons, or `=`), `exists`, `cidr`, `wildcard`, `$or`,
 * nested objects, and arrays in the data (a rule matches an array when it matches an element).
 * Numbers compare as EventBridge does: within ±5e9, to 6 decimal places (5 equals 5.0).
 */

const { FilterError } = require('./errors');
const { isObject } = require('./util');

/** AWS's limit without a quota raise. */
const MAX_FILTERS = 5;
const NUMERIC_LIMIT = 5e9;
const OPERATORS = new Set(['=', '<', '<=', '>', '>=']);

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
  if (rule === null || ['string', 'number', 'boolean'].includes(typeof rule)) {
    if (typeof rule === 'number' && (!Number.isFinite(rule) || Math.abs(rule) > NUMERIC_LIMIT))
      throw new FilterError(`${path}: numbers must be within -5e9..5e9`);
    return;
  }
  if (!isObject(rule)) throw new FilterError(`${path}: a rule must be a value or an object`);
  const keys = Object.keys(rule);
  if (keys.length !== 1) throw new FilterError(`${path}: a rule object has exactly one operator`);
  const [op] = keys;
  const arg = rule[/** @type {string} */ (op)];
  const stringOrIgnoreCase = (/** @type {unknown} */ a) =>
    typeof a === 'string' ||
    (isObject(a) && Object.keys(a).length === 1 && typeof a['equals-ignore-case'] === 'string');
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
        const n = arg[i + 1];
        if (typeof o !== 'string' || !OPERATORS.has(o))
          throw new FilterError(`${path}: numeric operator must be one of = < <= > >=`);
        if (typeof n !== 'number' || !Number.isFinite(n) || Math.abs(n) > NUMERIC_LIMIT)
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
      if (isObject(arg)) {
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
        !(values.every((v) => typeof v === 'string') || values.every((v) => typeof v === 'number'))
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
  if (!isObject(pattern)) throw new FilterError(`${path} must be an object`);
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
    } else if (isObject(value)) {
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
  if (!isObject(rule)) {
    if (typeof rule === 'number' && typeof value === 'number')
      return numeric(rule) === numeric(value);
    return rule === value;
  }
  const [op] = Object.keys(rule);
  const arg = rule[/** @type {string} */ (op)];
  const text = typeof value === 'string' ? value : undefined;
  switch (op) {
    case 'prefix':
    case 'suffix': {
      if (text === undefined) return false;
      const ignoreCase = isObject(arg);
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
      if (typeof value !== 'number') return false;
      const v = numeric(value);
      const conditions = /** @type {unknown[]} */ (arg);
      for (let i = 0; i + 1 < conditions.length; i += 2) {
        const bound = numeric(Number(conditions[i + 1]));
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
      if (isObject(arg)) {
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
  !isObject(actual) &&
  rules.some((rule) => {
    if (isObject(rule) && 'exists' in rule) return rule.exists === present;
    if (!present) return false;
    const values = Array.isArray(actual) ? actual.filter((v) => !isObject(v)) : [actual];
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
    const present = isObject(data) && Object.hasOwn(data, key);
    const actual = present ? /** @type {Record<string, unknown>} */ (data)[key] : undefined;
    if (Array.isArray(expected)) {
      if (!fieldMatches(expected, present, actual)) return false;
    } else if (
      !(isObject(actual) || Array.isArray(actual)) ||
      !matches(/** @type {Record<string, unknown>} */ (expected), actual)
    ) {
      return false;
    }
  }
  return true;
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * What a filter sees of a record: its metadata and its value (null for a tombstone; `undefined`
 * for bytes that are not UTF-8), and whether the value was a JSON object.
 * @param {{ value: string | null }} record
 */
const filterData = (record) => {
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
    const parsed = JSON.parse(text);
    if (isObject(parsed)) {
      data.value = parsed;
      return { data, json: true, utf8: true };
    }
  } catch {
    // not JSON: matched as a plain string
  }
  data.value = text;
  return { data, json: false, utf8: true };
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
    let pattern = p;
    if (typeof p === 'string') {
      try {
        pattern = JSON.parse(p);
      } catch (error) {
        throw new FilterError(`filter ${i + 1} is not valid JSON: ${p.slice(0, 200)}`, {
          cause: error,
        });
      }
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
    // The same pattern without its value clause, for values whose format it does not fit.
    const { value: _value, ...withoutValue } = object;
    return { pattern: object, withoutValue, jsonValue: isObject(object.value) };
  });
  return (record) => {
    const { data, json, utf8: isText } = filterData(record);
    return parsed.some(({ pattern, withoutValue, jsonValue }) => {
      const fits = isText && (!jsonValue || json || data.value === null);
      return matches(fits ? pattern : withoutValue, data);
    });
  };
};

module.exports = { MAX_FILTERS, compileFilters, filterData, matches };
