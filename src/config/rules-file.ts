/**
 * Reading an editable YAML rules file (rules/bounce-classes.yaml, rules/backoff.yaml): the
 * document's top-level `rules:` list, and a reporter that turns a problem at a YAML node into
 * "file:line:col: message", the form every config error takes. Each rules module then checks its
 * own rule shape.
 */
import { readFileSync } from "node:fs";
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";

/** Reports a problem at a node (its start), or at 1:1 when there is none. */
export type At = (node: Node | null | undefined, message: string) => void;

export type RulesDocument =
  | { ok: true; root: YAMLMap; rules: YAMLSeq; at: At; errors: string[] }
  | { ok: false; errors: string[] };

/** Reads `file`; `what` names it in the error ("bounce rules"). */
export function readRulesText(
  file: string,
  what: string,
): { ok: true; text: string } | { ok: false; errors: string[] } {
  try {
    return { ok: true, text: readFileSync(file, "utf8") };
  } catch (err) {
    return { ok: false, errors: [`${file}: cannot read ${what}: ${(err as Error).message}`] };
  }
}

/**
 * Parses rules text. On success, `errors` is the list `at` appends to: the caller checks each rule,
 * reports through `at`, and fails when `errors` is not empty at the end.
 */
export function openRulesDocument(text: string, file: string): RulesDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const errors: string[] = [];
  const at: At = (node, message) => {
    const pos = node?.range ? lineCounter.linePos(node.range[0]) : { line: 1, col: 1 };
    errors.push(`${file}:${pos.line}:${pos.col}: ${message}`);
  };
  for (const error of doc.errors) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    errors.push(`${file}:${line}:${col}: ${error.message.split("\n")[0]}`);
  }
  if (errors.length > 0) return { ok: false, errors };
  const root = doc.contents;
  const list = isMap(root) ? root.get("rules", true) : null;
  if (!isMap(root) || !isSeq(list)) {
    at(isMap(root) ? (root.items[0]?.key as Node | undefined) : root, "expected a top-level `rules:` list");
    return { ok: false, errors };
  }
  return { ok: true, root, rules: list, at, errors };
}

/** A scalar or a non-empty list of scalars, each lower-cased and checked against `shape`. */
export function scalarList(node: unknown, shape: RegExp, expected: string, at: At): string[] | null {
  if (node === undefined) return null;
  const items = isSeq(node) ? node.items : [node];
  if (items.length === 0) {
    at(node as Node, `expected ${expected}, or a non-empty list of them`);
    return null;
  }
  const out: string[] = [];
  for (const entry of items) {
    const value = isScalar(entry) ? String(entry.value).trim().toLowerCase() : "";
    if (!shape.test(value)) at(entry as Node, `expected ${expected}`);
    else out.push(value);
  }
  return out;
}

/** A rule's `text:` condition: a case-insensitive regular expression, or null when absent or bad. */
export function textPattern(node: unknown, at: At): RegExp | null {
  if (node === undefined) return null;
  if (!isScalar(node) || typeof node.value !== "string" || node.value === "") {
    at(node as Node, "expected text: a regular expression");
    return null;
  }
  try {
    return new RegExp(node.value, "iu");
  } catch (err) {
    at(node, `invalid regular expression: ${(err as Error).message}`);
    return null;
  }
}

/** A reply-code pattern such as "421" or "45x" ("x" = any digit) as an anchored RegExp. */
export function replyCodePattern(pattern: string): RegExp {
  return new RegExp(`^${pattern.replaceAll("x", "\\d")}$`);
}

/** The reply conditions every rules file shares; a null condition is not checked. */
export interface ReplyConditions {
  code: RegExp[] | null;
  enhanced: RegExp[] | null;
  text: RegExp | null;
}

/** Whether every condition given matches (a reply without an enhanced code fails `enhanced`). */
export function replyMatches(
  rule: ReplyConditions,
  reply: { code: number; enhanced: string | null; text: string },
): boolean {
  const enhanced = reply.enhanced ?? "";
  if (rule.code !== null && !rule.code.some((re) => re.test(String(reply.code)))) return false;
  if (rule.enhanced !== null && (enhanced === "" || !rule.enhanced.some((re) => re.test(enhanced))))
    return false;
  return rule.text === null || rule.text.test(reply.text);
}
