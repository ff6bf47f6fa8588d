import assert from "node:assert/strict";
import { test } from "node:test";
import type { Reply } from "../message/types.ts";
import {
  DEFAULT_SETTINGS,
  loadBackoffRulesFile,
  matchBackoffRule,
  parseBackoffRules,
  providerPattern,
} from "./backoff-rules.ts";

function shipped() {
  const loaded = loadBackoffRulesFile();
  assert.ok(loaded.ok, loaded.ok ? "" : loaded.errors.join("\n"));
  return loaded.rules;
}

const reply = (code: number, enhanced: string | null, text: string): Reply => ({ code, enhanced, text });

test("provider patterns match a host and its subdomains, case-insensitively", () => {
  assert.ok(providerPattern("*.yahoodns.net").test("mta5.am0.yahoodns.net"));
  assert.ok(providerPattern("*.yahoodns.net").test("yahoodns.net"));
  assert.ok(!providerPattern("*.yahoodns.net").test("evilyahoodns.net"));
  assert.ok(providerPattern("mx.example").test("mx.example"));
  assert.ok(!providerPattern("mx.example").test("a.mx.example"));
  assert.ok(providerPattern("*").test("anything.example"));
});

test("the shipped rules recognise Yahoo, Gmail and Outlook rate-limit deferrals", () => {
  const { rules } = shipped();
  const yahoo = ["mta6.am0.yahoodns.net"];
  const google = ["gmail-smtp-in.l.google.com"];
  const outlook = ["example-com.mail.protection.outlook.com"];
  const tss04 = reply(
    421,
    "4.7.0",
    "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints",
  );
  assert.equal(matchBackoffRule(rules, yahoo, tss04)?.name, "yahoo-ts04");
  assert.equal(
    matchBackoffRule(rules, google, reply(421, "4.7.28", "Gmail has detected an unusual rate of mail"))?.name,
    "gmail-4.7.28",
  );
  assert.equal(
    matchBackoffRule(
      rules,
      outlook,
      reply(451, "4.7.650", "The mail server [192.0.2.1] has been temporarily rate limited"),
    )?.name,
    "outlook-4.7.650",
  );
  assert.equal(
    matchBackoffRule(rules, ["mx.other.example"], reply(421, "4.7.0", "Too many connections from your IP"))
      ?.name,
    "generic-too-many",
  );
  // The Yahoo text from a site that is not Yahoo: only the generic rule could match, and it does not.
  assert.equal(matchBackoffRule(rules, ["mx.other.example"], tss04), null);
  // Not a rate limit; 5xx never matches.
  assert.equal(matchBackoffRule(rules, yahoo, reply(451, "4.3.0", "local error")), null);
  assert.equal(matchBackoffRule(rules, yahoo, reply(554, "5.7.9", "[TSS04] Message not accepted")), null);
});

test("settings default when absent and are read when given", () => {
  const none = parseBackoffRules("rules: []\n", "r.yaml");
  assert.ok(none.ok);
  assert.deepEqual(none.rules.settings, DEFAULT_SETTINGS);
  const some = parseBackoffRules(
    "settings: { reduced_rate_floor: 500ms, ramp_after_successes: 3, ramp_factor: 1.5 }\nrules:\n  - { name: x, code: 421, suspend: 1m }\n",
    "r.yaml",
  );
  assert.ok(some.ok);
  assert.deepEqual(some.rules.settings, { floorMs: 500, rampAfter: 3, rampFactor: 1.5 });
  assert.equal(some.rules.rules[0]?.suspendMs, 60_000);
  assert.equal(some.rules.rules[0]?.provider, null);
});

test("errors name file:line:col", () => {
  const text = [
    "settings: { ramp_factor: 1 }",
    "rules:",
    "  - name: bad",
    "    code: 550",
    "    text: '('",
    "  - name: no-suspend",
    "    code: 421",
    "  - { name: nothing, suspend: 1m }",
    "  - { name: typo, code: 421, suspend: 1m, provder: '*.x' }",
  ].join("\n");
  const loaded = parseBackoffRules(text, "b.yaml");
  assert.ok(!loaded.ok);
  const all = loaded.errors.join("\n");
  assert.match(all, /^b\.yaml:1:\d+: expected a number greater than 1/m);
  assert.match(all, /^b\.yaml:4:11: expected a 4xx reply code/m);
  assert.match(all, /^b\.yaml:5:11: invalid regular expression/m);
  assert.match(all, /^b\.yaml:6:5: expected suspend/m);
  assert.match(all, /^b\.yaml:8:5: a rule needs at least one of code, enhanced, text/m);
  assert.match(all, /^b\.yaml:9:\d+: unknown key "provder"/m);
  assert.ok(!parseBackoffRules("rules: [\n", "c.yaml").ok);
  const missing = loadBackoffRulesFile("/nonexistent/backoff.yaml");
  assert.ok(!missing.ok && /cannot read backoff rules/.test(missing.errors[0] ?? ""));
});
