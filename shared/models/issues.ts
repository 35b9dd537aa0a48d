import type * as z from 'zod/mini';

export interface DescribeIssuesOptions {
  /** Put before every path, such as `Topics.` for the issues of one property. */
  readonly prefix?: string;
  /** What to call the value itself, when an issue has an empty path. */
  readonly root?: string;
}

/** One zod issue as `path: message`, such as `records.0.offset: expected number`. */
export const describeIssue = (
  issue: z.core.$ZodIssue,
  { prefix = '', root = '' }: DescribeIssuesOptions = {},
): string => `${prefix}${issue.path.map(String).join('.') || root}: ${issue.message}`;

/**
 * Zod issues in one line, for operators (logs, configuration errors, dead-letter reasons). What
 * a client reads comes from `toFieldIssues` instead, which also says what was received.
 */
export const describeIssues = (
  issues: readonly z.core.$ZodIssue[],
  options?: DescribeIssuesOptions,
): string => issues.map((issue) => describeIssue(issue, options)).join('; ');
