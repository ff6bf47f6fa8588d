import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  openRulesDocument,
  readRulesText,
  replyCodePattern,
  replyMatches,
  textPattern,
} from "./rules-file.ts";

describe("rules files", () => {
  it("gives the rules list and reports problems at file:line:col", () => {
    const opened = openRulesDocument("# rules\nrules:\n  - name: a\n  - 7\n", "r.yaml");
    assert.ok(opened.ok);
    assert.equal(opened.rules.items.length, 2);
    opened.at(opened.rules.items[1] as never, "expected a rule");
    assert.deepEqual(opened.errors, ["r.yaml:4:5: expected a rule"]);
  });

  it("refuses bad YAML and a file without a rules list", () => {
    const bad = openRulesDocument("rules: [\n", "r.yaml");
    assert.equal(bad.ok, false);
    assert.match(bad.errors[0] ?? "", /^r\.yaml:\d+:\d+: /);
    const none = openRulesDocument("other: 1\n", "r.yaml");
    assert.deepEqual(none.ok ? [] : none.errors, ["r.yaml:1:1: expected a top-level `rules:` list"]);
  });

  it("names an unreadable file", () => {
    const read = readRulesText("/nonexistent/rules.yaml", "bounce rules");
    assert.equal(read.ok, false);
    assert.match(
      read.ok ? "" : (read.errors[0] ?? ""),
      /^\/nonexistent\/rules\.yaml: cannot read bounce rules: /,
    );
  });

  it("matches replies on code patterns, enhanced codes and text, every given condition", () => {
    const opened = openRulesDocument("rules:\n  - text: 'TSS0[4]'\n  - text: '(['\n", "r.yaml");
    assert.ok(opened.ok);
    const text = textPattern(
      (opened.rules.items[0] as { get(k: string, keep: true): unknown }).get("text", true),
      opened.at,
    );
    textPattern(
      (opened.rules.items[1] as { get(k: string, keep: true): unknown }).get("text", true),
      opened.at,
    );
    assert.match(opened.errors[0] ?? "", /^r\.yaml:3:\d+: invalid regular expression/);
    const rule = { code: [replyCodePattern("42x")], enhanced: [/^4\.7\.0$/], text };
    assert.equal(replyMatches(rule, { code: 421, enhanced: "4.7.0", text: "[tss04] deferred" }), true);
    assert.equal(replyMatches(rule, { code: 451, enhanced: "4.7.0", text: "[TSS04]" }), false);
    assert.equal(replyMatches(rule, { code: 421, enhanced: null, text: "[TSS04]" }), false);
    assert.equal(replyMatches({ ...rule, enhanced: null }, { code: 421, enhanced: null, text: "x" }), false);
  });
});
