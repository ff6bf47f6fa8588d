import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { readLogicalLines } from "./lines.ts";
import { parseMainCf, splitList } from "./main-cf.ts";

describe("readLogicalLines", () => {
  it("joins continuation lines and skips comments inside them", () => {
    const text = ["a = 1", "b = x,", "  y", "# comment", "    z", "", "c=3"].join("\n");
    assert.deepEqual(readLogicalLines(text), [
      { text: "a = 1", line: 1 },
      { text: "b = x, y z", line: 2 },
      { text: "c=3", line: 7 },
    ]);
  });
});

describe("parseMainCf", () => {
  it("reads name = value, the last setting winning, continuation lines joined", () => {
    const main = parseMainCf(
      "mydomain = a.example\nmydomain = b.example\ntransport_maps =\n  hash:/etc/postfix/t\n",
    );
    assert.equal(main.get("mydomain"), "b.example");
    assert.equal(main.get("transport_maps"), "hash:/etc/postfix/t");
    assert.equal(main.lineOf("mydomain"), 2);
    assert.deepEqual(main.names(), ["mydomain", "transport_maps"]);
  });

  it("keeps # inside a value: only whole lines are comments", () => {
    assert.equal(parseMainCf("smtpd_banner = $myhostname #1\n").get("smtpd_banner"), " #1");
  });

  it("expands $name, $(name) and the braced form lazily, whatever the order in the file", () => {
    const main = parseMainCf(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Postfix ${name} syntax, not a template
      "myhostname = mail.$mydomain\nb = ${myhostname}/$(mydomain)\nmydomain = example.com\n",
    );
    assert.equal(main.get("myhostname"), "mail.example.com");
    assert.equal(main.get("b"), "mail.example.com/example.com");
  });

  it("supports the braced ?text and :text forms, and $$", () => {
    const main = parseMainCf(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Postfix ${name?text} syntax, not a template
      "set = yes\nempty =\na = ${set?on}${empty?off}\nb = ${empty:fallback}${set:no}\nc = $$x\n",
    );
    assert.equal(main.get("a"), "on");
    assert.equal(main.get("b"), "fallback");
    assert.equal(main.get("c"), "$x");
  });

  it("lets a scope (master.cf -o values) override the file, and uses defaults last", () => {
    const main = parseMainCf("smtp_helo_name = $myhostname\nmyhostname = file.example\n", {
      defaults: { myhostname: "default.example", mydomain: "d.example" },
    });
    assert.equal(main.get("smtp_helo_name", { myhostname: "scope.example" }), "scope.example");
    assert.equal(main.get("smtp_helo_name"), "file.example");
    assert.equal(main.get("mydomain"), "d.example");
    assert.equal(main.get("unset_parameter"), undefined);
  });

  it("reports a reference loop instead of recursing forever, and lines that are not settings", () => {
    const main = parseMainCf("a = $b\nb = $a\nthis is not a setting\n");
    assert.equal(main.get("a"), "");
    assert.ok(main.problems.some((p) => p.line === 3 && /not a "name = value"/.test(p.message)));
    assert.ok(main.problems.some((p) => /refers to itself/.test(p.message)));
  });
});

describe("splitList", () => {
  it("splits on commas and whitespace", () => {
    assert.deepEqual(splitList(" 127.0.0.0/8, [::1]/128\t10.0.0.0/8 ,"), [
      "127.0.0.0/8",
      "[::1]/128",
      "10.0.0.0/8",
    ]);
  });
});
