import assert from "node:assert/strict";
import { test } from "node:test";
import { formatConfigError } from "../config/errors.ts";
import { parseConfig } from "../config/load.ts";

test("reputation.backoff_rules is resolved against the config file's directory", () => {
  const parsed = parseConfig(
    "reputation: { backoff_rules: rules/my-backoff.yaml }\n",
    "mf.yaml",
    "/etc/mailfleet",
    {
      defaultHostname: "mta.example",
    },
  );
  if (!parsed.ok) assert.fail(parsed.errors.map(formatConfigError).join("\n"));
  assert.equal(parsed.config.reputation?.backoffRules, "/etc/mailfleet/rules/my-backoff.yaml");
  const none = parseConfig("{}\n", "mf.yaml", "/etc/mailfleet", { defaultHostname: "mta.example" });
  assert.ok(none.ok);
  assert.equal(none.config.reputation?.backoffRules ?? null, null);
  const bad = parseConfig("reputation: { backoff_rules: '' }\n", "mf.yaml", "/etc", {
    defaultHostname: "mta.example",
  });
  assert.ok(!bad.ok);
  assert.match(bad.errors.map(formatConfigError).join("\n"), /mf\.yaml:1:\d+/);
});
