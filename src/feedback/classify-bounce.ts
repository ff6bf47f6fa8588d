/**
 * Bounce classification: reply code + enhanced status code + reply text -> one BounceClass, by
 * ordered rules from an editable YAML file (rules/bounce-classes.yaml ships the defaults; config
 * `feedback.bounce_rules` names another). The first rule whose conditions all match wins;
 * nothing matching is "other". Rules are checked when loaded, so a bad regular expression or an
 * unknown class is reported as file:line:col before the instance starts, never at delivery time.
 */

import { fileURLToPath } from "node:url";
import { isMap, isScalar, type Node, type YAMLMap } from "yaml";
import {
  type At,
  openRulesDocument,
  readRulesText,
  replyCodePattern,
  replyMatches,
  scalarList,
  textPattern,
} from "../config/rules-file.ts";
import type { Reply } from "../message/types.ts";
import { BOUNCE_CLASSES, type BounceClass } from "./types.ts";

/** The rules file shipped with mailfleet, used when the config names none. */
export const DEFAULT_BOUNCE_RULES = fileURLToPath(
  new URL("../../rules/bounce-classes.yaml", import.meta.url),
);

export interface BounceRule {
  name: string | null;
  class: BounceClass;
  /** Reply code patterns as regular expressions ("5xx" -> /^5\d\d$/); null = any. */
  code: RegExp[] | null;
  /** Enhanced code patterns ("5.7.*" -> /^5\.7\./); null = any. */
  enhanced: RegExp[] | null;
  text: RegExp | null;
}

export interface BounceClassifier {
  classify(reply: Reply): BounceClass;
  /** Where the rules came from (for logs). */
  source: string;
}

export type RulesLoad = { ok: true; classifier: BounceClassifier } | { ok: false; errors: string[] };

const CODE_RE = /^[2-5][0-9x][0-9x]$/;
const ENHANCED_RE = /^[245](\.(\d{1,3}|\*)){2}$|^[245](\.\d{1,3})?\.\*$/;
const RULE_KEYS = new Set(["name", "class", "code", "enhanced", "text"]);

/** First rule whose given conditions all match; "other" when none does. */
export function classifyWith(rules: readonly BounceRule[], reply: Reply): BounceClass {
  return rules.find((rule) => replyMatches(rule, reply))?.class ?? "other";
}

export function createClassifier(rules: readonly BounceRule[], source: string): BounceClassifier {
  return { source, classify: (reply) => classifyWith(rules, reply) };
}

/**
 * The last error behind an "expired" reply ("delivery time expired; last error: 550 text"), so an
 * expiry is classed by why the deferrals happened rather than by its own 4.4.7.
 */
export function lastErrorOf(reply: Reply): Reply {
  const match = /last error: (\d{3}) (?:(\d\.\d{1,3}\.\d{1,3}) )?(.*)$/s.exec(reply.text);
  if (!match) return reply;
  return { code: Number(match[1]), enhanced: match[2] ?? null, text: match[3] ?? "" };
}

export function loadBounceRulesFile(file: string = DEFAULT_BOUNCE_RULES): RulesLoad {
  const read = readRulesText(file, "bounce rules");
  return read.ok ? parseBounceRules(read.text, file) : read;
}

/** Parses and checks rules text; every problem is reported as "file:line:col: message". */
export function parseBounceRules(text: string, file: string): RulesLoad {
  const opened = openRulesDocument(text, file);
  if (!opened.ok) return opened;
  const { rules: list, at, errors } = opened;
  const rules: BounceRule[] = [];
  for (const item of list.items) {
    if (!isMap(item)) {
      at(item as Node, "expected a rule: a map with class and at least one of code, enhanced, text");
      continue;
    }
    const rule = parseRule(item, at);
    if (rule !== null) rules.push(rule);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, classifier: createClassifier(rules, file) };
}

function parseRule(item: YAMLMap, at: At): BounceRule | null {
  let ok = true;
  const fail = (node: Node | null | undefined, message: string) => {
    ok = false;
    at(node ?? item, message);
  };
  for (const pair of item.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (!RULE_KEYS.has(key))
      fail(pair.key as Node, `unknown key "${key}" (expected ${[...RULE_KEYS].join(", ")})`);
  }
  const classNode = item.get("class", true);
  const className = isScalar(classNode) ? String(classNode.value) : "";
  if (!(BOUNCE_CLASSES as readonly string[]).includes(className)) {
    fail(classNode ?? item, `expected class: one of ${BOUNCE_CLASSES.join(", ")}`);
  }
  const nameNode = item.get("name", true);
  const code = patterns(
    item.get("code", true),
    CODE_RE,
    "a reply code such as 550 or 5xx",
    fail,
    replyCodePattern,
  );
  const enhanced = patterns(
    item.get("enhanced", true),
    ENHANCED_RE,
    'an enhanced status code such as 5.1.1 or "5.7.*"',
    fail,
    (p) =>
      new RegExp(
        `^${p
          .replaceAll(".", "\\.")
          .replace(/\\\.\*$/, "\\.")
          .replaceAll("*", "\\d{1,3}")}${p.endsWith("*") ? "" : "$"}`,
      ),
  );
  const textRe = textPattern(item.get("text", true), fail);
  if (ok && code === null && enhanced === null && textRe === null) {
    fail(item, "a rule needs at least one of code, enhanced, text");
  }
  if (!ok) return null;
  return {
    name: isScalar(nameNode) ? String(nameNode.value) : null,
    class: className as BounceClass,
    code,
    enhanced,
    text: textRe,
  };
}

/** A scalar or a list of scalars, each checked against `shape` and compiled by `compile`. */
function patterns(
  node: unknown,
  shape: RegExp,
  expected: string,
  fail: At,
  compile: (pattern: string) => RegExp,
): RegExp[] | null {
  return scalarList(node, shape, expected, fail)?.map(compile) ?? null;
}
