import assert from "node:assert/strict";
import { test } from "node:test";

import { formatWarmup } from "./warmup.ts";

test("warmup status prints one aligned line per source IP x provider", () => {
  const text = formatWarmup({
    instance: "output",
    now: "2026-11-03T10:00:00.000Z",
    nextDay: "2026-11-04T00:00:00.000Z",
    rows: [
      {
        source: "new1",
        address: "192.0.2.4",
        provider: "google",
        day: 3,
        cap: 200,
        used: 120,
        remaining: 80,
        warm: false,
        overflow: "warm_ips",
      },
      {
        source: "new1",
        address: "192.0.2.4",
        provider: "default",
        day: 3,
        cap: null,
        used: 0,
        remaining: null,
        warm: true,
        overflow: "warm_ips",
      },
    ],
  });
  assert.equal(
    text,
    [
      "source  address    provider  day  cap  used  remaining  state",
      "new1    192.0.2.4  google    3    200  120   80         warming (overflow: warm_ips)",
      "new1    192.0.2.4  default   3    -    0     -          warm",
      "(UTC day 2026-11-03; caps reset at 2026-11-04T00:00:00.000Z)",
    ].join("\n"),
  );
  assert.equal(
    formatWarmup({ instance: "x", now: "", nextDay: "", rows: [] }),
    "(no source has a warm-up schedule)",
  );
});
