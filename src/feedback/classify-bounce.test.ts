import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Reply } from "../message/types.ts";
import { lastErrorOf, loadBounceRulesFile, parseBounceRules } from "./classify-bounce.ts";

const r = (code: number, enhanced: string | null, text: string): Reply => ({ code, enhanced, text });

describe("default bounce rules", () => {
  const loaded = loadBounceRulesFile();
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  const classify = loaded.classifier.classify;

  it("classifies the common cases", () => {
    assert.equal(classify(r(550, "5.1.1", "user unknown")), "invalid_recipient");
    assert.equal(classify(r(550, null, "No such user here")), "invalid_recipient");
    assert.equal(classify(r(452, "4.2.2", "mailbox full")), "mailbox_full");
    assert.equal(classify(r(552, "5.2.2", "Mailbox full")), "mailbox_full");
    assert.equal(classify(r(452, null, "Mailbox is full, over quota")), "mailbox_full");
    assert.equal(classify(r(550, "5.7.1", "Message rejected as spam")), "policy");
    assert.equal(
      classify(r(554, "5.7.1", "Service unavailable; client host blocked using zen.spamhaus.org")),
      "reputation",
    );
    assert.equal(classify(r(550, null, "Your IP is listed at a DNSBL")), "reputation");
    assert.equal(classify(r(421, "4.7.28", "unusual rate of unsolicited mail")), "rate_limited");
    assert.equal(classify(r(421, "4.7.0", "[TS04] Messages deferred: rate exceeded")), "rate_limited");
    assert.equal(classify(r(451, "4.4.3", "MX lookup for x.test failed")), "dns");
    assert.equal(classify(r(550, "5.1.2", "bad destination system")), "dns");
    assert.equal(classify(r(550, null, "Host not found: NXDOMAIN")), "dns");
    assert.equal(classify(r(530, "5.7.10", "Must issue STARTTLS first")), "tls");
    assert.equal(classify(r(451, null, "TLS handshake failed")), "tls");
    assert.equal(classify(r(451, "4.3.0", "local error")), "other");
    assert.equal(classify(r(451, "4.4.1", "connection refused")), "other");
  });

  it("classes an expiry by its last error", () => {
    const expired = r(451, "4.4.7", "delivery time expired; last error: 452 Mailbox full");
    assert.deepEqual(lastErrorOf(expired), r(452, null, "Mailbox full"));
    assert.equal(classify(lastErrorOf(expired)), "mailbox_full");
    assert.deepEqual(lastErrorOf(r(550, "5.1.1", "x")), r(550, "5.1.1", "x"));
  });
});

describe("parseBounceRules", () => {
  it("applies rules in order, all conditions of a rule together", () => {
    const loaded = parseBounceRules(
      [
        "rules:",
        "  - { class: rate_limited, code: 4xx, text: slow down }",
        "  - { class: policy, enhanced: '5.7.*' }",
        "  - { class: mailbox_full, code: [452, 552] }",
      ].join("\n"),
      "r.yaml",
    );
    assert.ok(loaded.ok);
    const c = loaded.classifier.classify;
    assert.equal(c(r(421, null, "please SLOW DOWN")), "rate_limited");
    assert.equal(c(r(550, null, "please slow down")), "other");
    assert.equal(c(r(550, "5.7.26", "dmarc")), "policy");
    assert.equal(c(r(550, "5.1.1", "x")), "other");
    assert.equal(c(r(552, null, "x")), "mailbox_full");
  });

  it("reports bad rules as file:line:col", () => {
    const loaded = parseBounceRules(
      [
        "rules:",
        "  - class: policy",
        "    text: 'spam(('",
        "  - class: nonsense",
        "    code: 5xx",
        "  - class: dns",
        "  - class: tls",
        "    enhanced: '5.7'",
        "    colour: red",
      ].join("\n"),
      "r.yaml",
    );
    assert.ok(!loaded.ok);
    assert.match(loaded.errors[0]!, /^r\.yaml:3:11: invalid regular expression/);
    assert.match(loaded.errors[1]!, /^r\.yaml:4:12: expected class: one of/);
    assert.match(loaded.errors[2]!, /^r\.yaml:6:5: a rule needs at least one of code, enhanced, text/);
    assert.ok(loaded.errors.some((e) => /^r\.yaml:8:15: expected an enhanced status code/.test(e)));
    assert.ok(loaded.errors.some((e) => /^r\.yaml:9:5: unknown key "colour"/.test(e)));
  });

  it("reports YAML syntax errors and a missing rules list", () => {
    const syntax = parseBounceRules("rules: [\n", "r.yaml");
    assert.ok(!syntax.ok);
    assert.match(syntax.errors[0]!, /^r\.yaml:\d+:\d+: /);
    const missing = parseBounceRules("other: 1\n", "r.yaml");
    assert.ok(!missing.ok);
    assert.match(missing.errors[0]!, /^r\.yaml:1:1: expected a top-level `rules:` list/);
  });
});
