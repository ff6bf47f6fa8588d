import assert from "node:assert/strict";
import { test } from "node:test";
import type { BackoffEntryView } from "../reputation/backoff.ts";
import { formatBackoffSection } from "./reputation-backoff.ts";

const entry: BackoffEntryView = {
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
};

test("mailfleet reputation prints a backoff section", () => {
  assert.equal(formatBackoffSection(undefined), "");
  assert.match(formatBackoffSection({ entries: [], rules: "r.yaml" }), /backoff: no source IP x site/);
  assert.equal(
    formatBackoffSection({
      entries: [entry, { ...entry, state: "reduced", until: null, successes: 3 }],
      rules: "r.yaml",
    }),
    [
      "",
      "backoff (source IP -> site):",
      "  127.0.0.2 -> mx|mta5.am0.yahoodns.net: suspended until 2026-01-01T12:30:00.000Z (rule yahoo-ts04), then 1 per 2s",
      "  127.0.0.2 -> mx|mta5.am0.yahoodns.net: rate halved: 1 per 2s, ramping (3/10 deliveries to the next step; rule yahoo-ts04)",
    ].join("\n"),
  );
});
