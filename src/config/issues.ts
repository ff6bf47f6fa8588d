/**
 * Turns zod issues into ConfigErrors that point into the YAML file. Each issue's path (YAML keys
 * and list indexes) is walked through the parsed YAML document to find the node's offset, which
 * the LineCounter turns into line:col. A bad value points at the value; an unknown key points at
 * the key itself; a key that is absent points at the nearest map that exists.
 *
 * The known keys for "expected one of ..." are read from the schema itself, so the list can never
 * drift from what the schema accepts.
 */

import type { Document, LineCounter } from "yaml";
import { isAlias, isMap, isScalar, isSeq } from "yaml";
import type { z } from "zod";

import type { ConfigError } from "./errors.ts";
import { describeValue, didYouMean, foundExpected, oneOf } from "./errors.ts";

type PathSegment = PropertyKey;
type Issue = z.core.$ZodIssue;

export interface IssueContext {
  file: string;
  doc: Document;
  lineCounter: LineCounter;
  /** The document as plain data (what the schema saw). */
  data: unknown;
  /** The schema that produced the issues, for the lists of known keys. */
  schema: z.ZodType;
}

/** One ConfigError per issue, except unknown keys, which get one error each. */
export function issueToErrors(issue: Issue, ctx: IssueContext): ConfigError[] {
  if (issue.code === "unrecognized_keys") {
    const known = knownKeysAt(ctx.schema, issue.path);
    return issue.keys.map((key) => {
      const path = [...issue.path, key];
      const suggestion = didYouMean(key, known);
      const hint = suggestion === undefined ? "" : ` (did you mean ${JSON.stringify(suggestion)}?)`;
      const expected = known.length > 0 ? `${oneOf(known)}${hint}` : `no keys here${hint}`;
      return makeError(
        ctx,
        "CONFIG_UNKNOWN_KEY",
        path,
        "key",
        `unknown key ${JSON.stringify(key)}`,
        expected,
      );
    });
  }
  const isKeyIssue = issue.code === "invalid_key";
  const found = isKeyIssue
    ? `key ${JSON.stringify(String(issue.path.at(-1)))}`
    : describeValue(valueAt(ctx.data, issue.path));
  return [
    makeError(ctx, "CONFIG_INVALID", issue.path, isKeyIssue ? "key" : "value", found, expectedOf(issue)),
  ];
}

function makeError(
  ctx: IssueContext,
  code: ConfigError["code"],
  path: readonly PathSegment[],
  target: "key" | "value",
  found: string,
  expected: string,
): ConfigError {
  const offset = locate(ctx.doc, path, target);
  const { line, col } = ctx.lineCounter.linePos(offset);
  return {
    code,
    file: ctx.file,
    line,
    col,
    key: path.map(String).join("."),
    found,
    expected,
    message: foundExpected(found, expected),
  };
}

const TYPE_NAMES: Record<string, string> = {
  object: "a map",
  array: "a list",
  string: "a string",
  boolean: "true or false",
  number: "a number",
  int: "an integer",
};

/** The "expected ..." phrase for an issue. Our own checks carry it in params.expected. */
export function expectedOf(issue: Issue): string {
  switch (issue.code) {
    case "custom":
      return typeof issue.params?.expected === "string" ? issue.params.expected : issue.message;
    case "invalid_type":
      return TYPE_NAMES[issue.expected] ?? issue.expected;
    case "invalid_value":
      return oneOf(issue.values.map(String));
    case "too_small":
      return issue.origin === "array"
        ? `a list of at least ${issue.minimum} item(s)`
        : `a value ${issue.inclusive ? ">=" : ">"} ${issue.minimum}`;
    case "too_big":
      return issue.origin === "array"
        ? `a list of at most ${issue.maximum} item(s)`
        : `a value ${issue.inclusive ? "<=" : "<"} ${issue.maximum}`;
    case "invalid_union": {
      // One phrase per alternative, e.g. "a string or a list".
      const phrases = issue.errors.map((branch) => (branch[0] === undefined ? "" : expectedOf(branch[0])));
      return [...new Set(phrases.filter((p) => p !== ""))].join(" or ") || issue.message;
    }
    case "invalid_key": {
      const inner = issue.issues[0];
      return inner === undefined ? "a valid key" : expectedOf(inner);
    }
    default:
      return issue.message;
  }
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let current = data;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function startOf(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0];
}

/**
 * Offset of the node at `path`: its value, or its key when target is "key". Stops at the deepest
 * node that exists, so a missing key points at the map that should hold it. Aliases are followed.
 */
export function locate(doc: Document, path: readonly PathSegment[], target: "key" | "value"): number {
  let node: unknown = doc.contents;
  let offset = startOf(node) ?? 0;
  for (const [index, segment] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    const isLast = index === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => keyText(item.key) === String(segment));
      if (pair === undefined) return offset;
      const keyOffset = startOf(pair.key) ?? offset;
      if (isLast && target === "key") return keyOffset;
      node = pair.value;
      offset = startOf(node) ?? keyOffset;
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment];
      if (item === undefined) return offset;
      node = item;
      offset = startOf(node) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

interface SchemaDef {
  type: string;
  in?: z.ZodType;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
}

function defOf(schema: z.ZodType): SchemaDef {
  return schema._zod.def as unknown as SchemaDef;
}

/** Peels off pipes (transforms), defaults, prefaults and optional wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (let depth = 0; depth < 32; depth++) {
    const def = defOf(current);
    const next = def.type === "pipe" ? def.in : def.innerType;
    if (next === undefined) return current;
    current = next;
  }
  return current;
}

/** Peels off wrappers and, for a union ("name or {map}"), picks its object alternative. */
function unwrapToObject(schema: z.ZodType): z.ZodType {
  const current = unwrap(schema);
  const def = defOf(current);
  if (def.type !== "union") return current;
  const objectOption = def.options?.map(unwrap).find((option) => defOf(option).type === "object");
  return objectOption ?? current;
}

/** The keys the strict object at `path` accepts, in schema order; [] if none is found there. */
export function knownKeysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let current = unwrapToObject(schema);
  for (const segment of path) {
    const def = defOf(current);
    const next =
      def.type === "object"
        ? def.shape?.[String(segment)]
        : def.type === "record"
          ? def.valueType
          : def.type === "array"
            ? def.element
            : undefined;
    if (next === undefined) return [];
    current = unwrapToObject(next);
  }
  const def = defOf(current);
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}
