import assert from "node:assert/strict";
import { test } from "node:test";
import { formatConfigError } from "../config/errors.ts";
import { parseConfig } from "../config/load.ts";
import { type ExplainFacts, explainRoute, formatExplanation } from "../routing/explain.ts";
import type { BackoffEntryView } from "./backoff.ts";

const parsed = parseConfig(
  `
sources:
  out2: { address: 127.0.0.2 }
  out3: { address: 127.0.0.3 }
pools:
  shared: { strategy: round_robin, sources: [out2, out3] }
transports:
  mx: { pool: shared }
`,
  "mf.yaml",
  "/tmp",
  { defaultHostname: "mta.example" },
);
if (!parsed.ok) assert.fail(parsed.errors.map(formatConfigError).join("\n"));
const config = parsed.config;

const entry = (over: Partial<BackoffEntryView>): BackoffEntryView => ({
  source: "127.0.0.2",
  site: "mx|mta5.am0.yahoodns.net",
  hosts: ["mta5.am0.yahoodns.net"],
  state: "suspended",
  until: "2026-01-01T12:30:00.000Z",
  delayMs: 2000,
  baseDelayMs: 0,
  halvings: 1,
  successes: 0,
  rampAfter: 10,
  rule: "yahoo-ts04",
  lastReply: "421 4.7.0 [TSS04] ...",
  since: "2026-01-01T12:00:00.000Z",
  ...over,
});

function facts(backoff: BackoffEntryView[]): ExplainFacts {
  return {
    sender: "news@sender.example",
    recipient: "bob@yahoo.example",
    mx: { ok: true, hosts: ["mta5.am0.yahoodns.net"] },
    site: {
      kind: "site",
      site: {
        key: "mx|mta5.am0.yahoodns.net",
        transport: config.transports.mx!,
        port: 25,
        hosts: [{ name: "mta5.am0.yahoodns.net", preference: 1, addresses: ["192.0.2.1"] }],
      },
    },
    health: { known: false, reason: "instance not running" },
    backoff,
  };
}

test("route explain marks the candidate IPs under backoff toward the resolved site", () => {
  const e = explainRoute(
    config,
    facts([
      entry({}),
      entry({ source: "127.0.0.3", site: "mx|other.example", state: "reduced", until: null }),
    ]),
  );
  const [out2, out3] = e.transport?.sources ?? [];
  assert.equal(out2?.backoff?.state, "suspended");
  assert.equal(out3?.backoff, undefined, "backoff toward another site does not apply");
  const text = formatExplanation(e);
  assert.match(
    text,
    /out2 127\.0\.0\.2 .*backoff: suspended until 2026-01-01T12:30:00\.000Z \(rule yahoo-ts04\)/,
  );

  const reduced = explainRoute(config, facts([entry({ state: "reduced", until: null, successes: 3 })]));
  assert.match(
    formatExplanation(reduced),
    /127\.0\.0\.2 .*backoff: rate halved: 1 per 2s, ramping \(3\/10 deliveries/,
  );
  assert.doesNotMatch(formatExplanation(explainRoute(config, facts([]))), /backoff/);
});
