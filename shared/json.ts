/**
 * What `JSON.parse` lets through but a request body must not have: nesting deeper than any
 * payload of ours (describing such a value to the client overflows the stack), and an object key
 * given twice (`JSON.parse` silently keeps the last one, where the form path refuses it).
 */

/** Deepest nesting of arrays and objects accepted; our payloads need 3. */
export const MAX_JSON_DEPTH = 32;

export type JsonShapeProblem =
  | { readonly kind: 'too-deep'; readonly path: readonly (string | number)[] }
  | { readonly kind: 'duplicate-key'; readonly path: readonly (string | number)[] };

type Frame =
  | { kind: 'object'; keys: Set<string>; key: string | undefined; expectKey: boolean }
  | { kind: 'array'; index: number };

const pathOf = (stack: readonly Frame[]): (string | number)[] =>
  stack.flatMap((f): (string | number)[] =>
    f.kind === 'array' ? [f.index] : f.key === undefined ? [] : [f.key],
  );

/**
 * The first problem of `text`, which must be valid JSON (parse it first), or `undefined`. One
 * pass, no recursion, so any depth is safe to check.
 */
export const findJsonShapeProblem = (
  text: string,
  maxDepth = MAX_JSON_DEPTH,
): JsonShapeProblem | undefined => {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack.at(-1);
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (top?.kind === 'object' && top.expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        top.expectKey = false;
        top.key = key;
        if (top.keys.has(key)) return { kind: 'duplicate-key', path: pathOf(stack) };
        top.keys.add(key);
      }
      i = end;
    } else if (c === '{' || c === '[') {
      if (stack.length >= maxDepth) return { kind: 'too-deep', path: pathOf(stack) };
      stack.push(
        c === '{'
          ? { kind: 'object', keys: new Set(), key: undefined, expectKey: true }
          : { kind: 'array', index: 0 },
      );
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top) {
      if (top.kind === 'array') top.index++;
      else top.expectKey = true;
    }
  }
  return undefined;
};
