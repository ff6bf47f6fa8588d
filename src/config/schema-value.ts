/**
 * The one building block every config schema file uses: a value checked by a plain parser, whose
 * failure becomes one zod issue quoting what was expected (the phrase file:line:col errors show).
 */
import { z } from "zod";

/** undefined from `parse` becomes one issue "expected <expected>", with params.expected set. */
export function value<T>(expected: string, parse: (input: unknown) => T | undefined) {
  return z.unknown().transform((input, ctx): T => {
    const out = parse(input);
    if (out === undefined) {
      ctx.issues.push({ code: "custom", input, message: `expected ${expected}`, params: { expected } });
      return z.NEVER;
    }
    return out;
  });
}

/** Where cross-field checks report: zod's refinement context, or a wrapper that prefixes paths. */
export interface IssueSink {
  addIssue(issue: {
    code: "custom";
    path: (string | number)[];
    input: unknown;
    message: string;
    params: object;
  }): void;
}

/** Reports `expected` at `path` the way every config error reads: "found X, expected ...". */
export function addExpected(
  check: IssueSink,
  path: (string | number)[],
  input: unknown,
  expected: string,
): void {
  check.addIssue({ code: "custom", path, input, message: `expected ${expected}`, params: { expected } });
}
