import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatConfigError } from "./errors.ts";
import { parseConfig } from "./load.ts";

function parse(text: string) {
  return parseConfig(text, "mailfleet.yaml", "/srv/mf", { defaultHostname: "mx.example" });
}

describe("feedback: VERP and report addresses", () => {
  test("normalises verp, addresses and bounce domains", () => {
    const result = parse(
      [
        "feedback:",
        "  verp: { domain: Bounces.Example.com, secret_file: keys/verp.key }",
        "  addresses: [FBL@example.com]",
        "  bounce_domains: [bounces.example.com]",
      ].join("\n"),
    );
    if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
    const feedback = result.config.feedback;
    assert.deepEqual(feedback?.verp, {
      domain: "bounces.example.com",
      localPart: "b",
      secret: null,
      secretFile: "/srv/mf/keys/verp.key",
    });
    assert.deepEqual(feedback?.addresses, ["fbl@example.com"]);
    assert.deepEqual(feedback?.bounceDomains, ["bounces.example.com"]);
  });

  test("refuses a short secret and a bad local part, with the line", () => {
    const result = parse(
      ["feedback:", "  verp: { domain: b.example, local_part: 'a+b', secret: short }"].join("\n"),
    );
    assert.equal(result.ok, false);
    const errors = result.ok ? "" : result.errors.map(formatConfigError).join("\n");
    assert.match(errors, /mailfleet\.yaml:2:.*local_part/);
    assert.match(errors, /secret.*at least 16 characters/);
  });

  test("a relaying instance may not take reports: they belong to the delivering one", () => {
    const result = parse(
      [
        "instances:",
        "  in: { role: input, feedback: { addresses: [fbl@example.com] } }",
        "  out: { role: output }",
      ].join("\n"),
    );
    assert.equal(result.ok, false);
    const errors = result.ok ? "" : result.errors.map(formatConfigError).join("\n");
    assert.match(errors, /feedback\.addresses in a relaying instance \(input\): set it on out/);
  });
});
