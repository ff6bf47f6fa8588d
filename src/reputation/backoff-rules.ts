/**
 * Adaptive backoff rules: which deferral replies, from which provider's MX hosts, mean "you are
 * sending too fast from this IP" (Yahoo TSS04, Gmail 4.7.28, Outlook 4.7.650...), how long to
 * suspend that source IP x site, and how the reduced rate ramps back. Loaded from an editable
 * YAML file (rules/backoff.yaml ships the defaults; config `reputation.backoff_rules` names
 * another) and checked when loaded, so a bad pattern is reported as file:line:col before the
 * instance starts, never at delivery time (same approach as src/feedback/classify-bounce.ts).
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
import { parseDuration } from "../config/values.ts";
import type { Reply } from "../message/types.ts";

/** The rules file shipped with mailfleet, used when the config names none. */
export const DEFAULT_BACKOFF_RULES = fileURLToPath(new URL("../../rules/backoff.yaml", import.meta.url));

export interface BackoffRule {
  name: string;
  /** MX host name patterns ("*.yahoodns.net"); null = any provider. */
  provider: RegExp[] | null;
  /** The provider patterns as written (for logs and the API). */
  providerText: string[];
  code: RegExp[] | null;
  enhanced: RegExp[] | null;
  text: RegExp | null;
  /** How long the source IP x site is suspended after a match. */
  suspendMs: number;
}

/** How the reduced rate is computed and ramps back (the file's `settings:`). */
export interface BackoffSettings {
  /**
   * The start interval halving applies to when the transport has no (or a smaller) rate_delay:
   * after a match the interval is max(rate_delay, floor) x 2 per active halving.
   */
  floorMs: number;
  /** Successful deliveries per ramp step. */
  rampAfter: number;
  /** Each ramp step divides the interval by this (> 1). */
  rampFactor: number;
}

export interface BackoffRules {
  rules: BackoffRule[];
  settings: BackoffSettings;
  /** Where the rules came from (for logs). */
  source: string;
}

export type BackoffRulesLoad = { ok: true; rules: BackoffRules } | { ok: false; errors: string[] };

export const DEFAULT_SETTINGS: BackoffSettings = { floorMs: 1000, rampAfter: 10, rampFactor: 2 };

const CODE_RE = /^4[0-9x][0-9x]$/;
const ENHANCED_RE = /^4(\.(\d{1,3}|\*)){2}$/;
const PROVIDER_RE = /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$|^\*$/;
const RULE_KEYS = new Set(["name", "provider", "code", "enhanced", "text", "suspend"]);
const SETTING_KEYS = new Set(["reduced_rate_floor", "ramp_after_successes", "ramp_factor"]);

/** "*.yahoodns.net" matches "mta5.am0.yahoodns.net" (and "yahoodns.net"); "*" matches anything. */
export function providerPattern(pattern: string): RegExp {
  const p = pattern.toLowerCase().replace(/\.$/, "");
  if (p === "*") return /^/;
  if (p.startsWith("*.")) return new RegExp(`(^|\\.)${escapeRe(p.slice(2))}$`);
  return new RegExp(`^${escapeRe(p)}$`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The first rule whose conditions all hold for a deferral `reply` from a site whose MX hosts
 * are `hosts` (any host matching a provider pattern is enough); null when none does.
 */
export function matchBackoffRule(
  rules: readonly BackoffRule[],
  hosts: readonly string[],
  reply: Reply,
): BackoffRule | null {
  if (reply.code < 400 || reply.code >= 500) return null;
  const names = hosts.map((h) => h.toLowerCase().replace(/\.$/, ""));
  const forProvider = (rule: BackoffRule) =>
    rule.provider === null || rule.provider.some((re) => names.some((n) => re.test(n)));
  return rules.find((rule) => forProvider(rule) && replyMatches(rule, reply)) ?? null;
}

export function loadBackoffRulesFile(file: string = DEFAULT_BACKOFF_RULES): BackoffRulesLoad {
  const read = readRulesText(file, "backoff rules");
  return read.ok ? parseBackoffRules(read.text, file) : read;
}

/** Parses and checks rules text; every problem is reported as "file:line:col: message". */
export function parseBackoffRules(text: string, file: string): BackoffRulesLoad {
  const opened = openRulesDocument(text, file);
  if (!opened.ok) return opened;
  const { root, rules: list, at, errors } = opened;
  const settings = parseSettings(root.get("settings", true), at);
  const rules: BackoffRule[] = [];
  for (const item of list.items) {
    if (!isMap(item)) {
      at(item as Node, "expected a rule: a map with name, suspend and at least one of code, enhanced, text");
      continue;
    }
    const rule = parseRule(item, at, rules.length);
    if (rule !== null) rules.push(rule);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, rules: { rules, settings, source: file } };
}

function parseSettings(node: unknown, at: At): BackoffSettings {
  const settings = { ...DEFAULT_SETTINGS };
  if (node === undefined) return settings;
  if (!isMap(node)) {
    at(node as Node, "expected settings: a map");
    return settings;
  }
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    const value = isScalar(pair.value) ? pair.value.value : undefined;
    const where = (pair.value ?? pair.key) as Node;
    if (!SETTING_KEYS.has(key)) {
      at(pair.key as Node, `unknown key "${key}" (expected ${[...SETTING_KEYS].join(", ")})`);
    } else if (key === "reduced_rate_floor") {
      const ms = parseDuration(value);
      if (ms === undefined || ms <= 0) at(where, "expected a duration such as 1s or 500ms");
      else settings.floorMs = ms;
    } else if (key === "ramp_after_successes") {
      if (typeof value !== "number" || !Number.isInteger(value) || value < 1)
        at(where, "expected a whole number of deliveries, at least 1");
      else settings.rampAfter = value;
    } else if (typeof value !== "number" || !(value > 1) || value > 100) {
      at(where, "expected a number greater than 1 (at most 100)");
    } else settings.rampFactor = value;
  }
  return settings;
}

function parseRule(item: YAMLMap, at: At, index: number): BackoffRule | null {
  let ok = true;
  const fail: At = (node, message) => {
    ok = false;
    at(node ?? item, message);
  };
  for (const pair of item.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (!RULE_KEYS.has(key))
      fail(pair.key as Node, `unknown key "${key}" (expected ${[...RULE_KEYS].join(", ")})`);
  }
  const nameNode = item.get("name", true);
  const name =
    isScalar(nameNode) && String(nameNode.value) !== "" ? String(nameNode.value) : `rule-${index + 1}`;
  const providerNode = item.get("provider", true);
  const providerText = scalarList(
    providerNode,
    PROVIDER_RE,
    'an MX host pattern such as "*.yahoodns.net"',
    fail,
  );
  const code = scalarList(item.get("code", true), CODE_RE, "a 4xx reply code such as 421 or 45x", fail);
  const enhanced = scalarList(
    item.get("enhanced", true),
    ENHANCED_RE,
    'a 4.x.x enhanced status code such as 4.7.0 or "4.7.*"',
    fail,
  );
  const textRe = textPattern(item.get("text", true), fail);
  const suspendNode = item.get("suspend", true);
  const suspendMs = parseDuration(isScalar(suspendNode) ? suspendNode.value : undefined);
  if (suspendMs === undefined || suspendMs <= 0)
    fail((suspendNode as Node | undefined) ?? item, "expected suspend: a duration such as 15m");
  if (ok && code === null && enhanced === null && textRe === null)
    fail(item, "a rule needs at least one of code, enhanced, text");
  if (!ok) return null;
  return {
    name,
    provider: providerText === null ? null : providerText.map(providerPattern),
    providerText: providerText ?? ["*"],
    code: code === null ? null : code.map(replyCodePattern),
    enhanced:
      enhanced === null
        ? null
        : enhanced.map((p) => new RegExp(`^${p.replaceAll(".", "\\.").replaceAll("*", "\\d{1,3}")}$`)),
    text: textRe,
    suspendMs: suspendMs ?? 0,
  };
}
