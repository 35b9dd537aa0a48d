// @ts-check
'use strict';

/**
 * Lambda event filtering for Kafka (`FilterCriteria`, EventBridge pattern syntax), applied to
 * the record's `value` only: the value is base64-decoded and read as UTF-8; a JSON object is
 * matched by `{"value": {...}}` patterns, anything else as a plain string by `{"value": [...]}`
 * patterns. A record is delivered when it matches any filter; with no filters, every record is.
 *
 * Supported: exact values (strings, numbers, booleans, null), `prefix`, `suffix`,
 * `equals-ignore-case`, `anything-but` (values or `{prefix}`), `numeric` ranges, `exists`,
 * `wildcard`, and `$or`.
 */

/** AWS's limit without a quota raise. */
const MAX_FILTERS = 5;

/**
 * @param {unknown} v
 * @returns {v is Record<string, unknown>}
 */
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * @param {string} pattern
 * @param {string} text
 */
const wildcardMatches = (pattern, text) => {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 's').test(text);
};

/**
 * @param {unknown[]} conditions `[">", 0, "<=", 5]` or `["=", 3]`
 * @param {unknown} value
 */
const numericMatches = (conditions, value) => {
  if (typeof value !== 'number') return false;
  for (let i = 0; i + 1 < conditions.length; i += 2) {
    const op = conditions[i];
    const bound = Number(conditions[i + 1]);
    const ok =
      op === '='
        ? value === bound
        : op === '<'
          ? value < bound
          : op === '<='
            ? value <= bound
            : op === '>'
              ? value > bound
              : op === '>='
                ? value >= bound
                : false;
    if (!ok) return false;
  }
  return true;
};

/**
 * Whether one scalar matches one entry of a pattern's value list.
 * @param {unknown} rule
 * @param {unknown} value
 */
const ruleMatches = (rule, value) => {
  if (!isObject(rule)) return rule === value;
  if ('prefix' in rule) {
    const p = rule.prefix;
    if (isObject(p) && typeof p['equals-ignore-case'] === 'string') {
      return (
        typeof value === 'string' &&
        value.toLowerCase().startsWith(p['equals-ignore-case'].toLowerCase())
      );
    }
    return typeof value === 'string' && typeof p === 'string' && value.startsWith(p);
  }
  if ('suffix' in rule) {
    return (
      typeof value === 'string' && typeof rule.suffix === 'string' && value.endsWith(rule.suffix)
    );
  }
  if ('equals-ignore-case' in rule) {
    const e = rule['equals-ignore-case'];
    return (
      typeof value === 'string' && typeof e === 'string' && value.toLowerCase() === e.toLowerCase()
    );
  }
  if ('anything-but' in rule) {
    const but = rule['anything-but'];
    if (isObject(but) && typeof but.prefix === 'string') {
      return typeof value === 'string' && !value.startsWith(but.prefix);
    }
    const excluded = Array.isArray(but) ? but : [but];
    return value !== undefined && !excluded.some((x) => x === value);
  }
  if ('numeric' in rule && Array.isArray(rule.numeric)) return numericMatches(rule.numeric, value);
  if ('wildcard' in rule) {
    return (
      typeof value === 'string' &&
      typeof rule.wildcard === 'string' &&
      wildcardMatches(rule.wildcard, value)
    );
  }
  return false;
};

/**
 * Whether `data` matches `pattern` (every key matches; `$or` needs one branch to).
 * @param {unknown} pattern
 * @param {unknown} data
 * @returns {boolean}
 */
const matches = (pattern, data) => {
  if (!isObject(pattern)) return false;
  for (const [key, expected] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!Array.isArray(expected) || !expected.some((branch) => matches(branch, data)))
        return false;
      continue;
    }
    const present = isObject(data) && Object.hasOwn(data, key);
    const actual = present ? /** @type {Record<string, unknown>} */ (data)[key] : undefined;
    if (Array.isArray(expected)) {
      if (!fieldMatches(expected, present, actual)) return false;
    } else if (isObject(expected)) {
      if (!isObject(actual) || !matches(expected, actual)) return false;
    } else {
      return false;
    }
  }
  return true;
};

/**
 * A list of rules applies to leaf values only (EventBridge): an object, such as a JSON record
 * value under a `{"value": [...]}` pattern, is matched by nested patterns and by no rule here.
 * @param {unknown[]} rules
 * @param {boolean} present
 * @param {unknown} actual
 */
const fieldMatches = (rules, present, actual) => {
  if (isObject(actual)) return false;
  return rules.some((rule) => {
    if (isObject(rule) && 'exists' in rule) return rule.exists === present;
    if (!present) return false;
    const values = Array.isArray(actual) ? actual.filter((v) => !isObject(v)) : [actual];
    return values.some((v) => ruleMatches(rule, v));
  });
};

/**
 * The data a Kafka filter sees for a record value (base64 or null).
 * @param {string | null} base64Value
 * @returns {{ value: unknown }}
 */
const filterData = (base64Value) => {
  if (base64Value === null) return { value: null };
  const text = Buffer.from(base64Value, 'base64').toString('utf8');
  try {
    const parsed = JSON.parse(text);
    if (isObject(parsed)) return { value: parsed };
  } catch {
    // not JSON: matched as a plain string
  }
  return { value: text };
};

/**
 * Compiles filter patterns (objects, or JSON strings as in CloudFormation) into a predicate.
 * @param {readonly unknown[] | undefined} patterns
 * @returns {(base64Value: string | null) => boolean}
 */
const compileFilters = (patterns) => {
  if (!patterns || patterns.length === 0) return () => true;
  const parsed = patterns.map((p, i) => {
    const pattern = typeof p === 'string' ? JSON.parse(p) : p;
    if (!isObject(pattern)) throw new Error(`filterPatterns[${i}] must be an object pattern`);
    return pattern;
  });
  return (base64Value) => {
    const data = filterData(base64Value);
    return parsed.some((pattern) => matches(pattern, data));
  };
};

module.exports = { MAX_FILTERS, compileFilters, filterData, matches };
