import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openRulesDocument, readRulesText } from "./rules-file.ts";

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
});
