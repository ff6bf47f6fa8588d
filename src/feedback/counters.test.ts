import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openCounters } from "./counters.ts";

const HOUR = 3_600_000;
const start = Date.UTC(2026, 10, 23, 12, 0, 0);

describe("reputation counters", () => {
  it("counts per IP, tenant and provider over sliding windows", async () => {
    const dir = await mkdtemp(join(tmpdir(), "counters-"));
    let now = start;
    const counters = await openCounters({ dir, now: () => now });
    try {
      const base = { tenant: "shop", sourceIp: "198.51.100.7", provider: "google.com" };
      counters.record({ kind: "delivered", ...base, at: now });
      counters.record({ kind: "bounced", ...base, bounceClass: "invalid_recipient", at: now });
      now += 2 * HOUR;
      counters.record({ kind: "complaint", ...base, at: now });
      counters.record({ kind: "deferred", ...base, tenant: null, bounceClass: "rate_limited", at: now });
      const report = counters.report({ tenant: "shop" });
      assert.equal(report.rows.length, 1);
      const w = report.rows[0]!.windows;
      assert.deepEqual(
        [w["1h"].delivered, w["1h"].bounced, w["1h"].complaints],
        [0, 0, 1],
        "the first events are out of the last hour",
      );
      assert.equal(w["24h"].delivered, 1);
      assert.deepEqual(w["24h"].bouncedByClass, { invalid_recipient: 1 });
      const ip = counters.report({ ip: "198.51.100.7" }).rows[0]!.windows["24h"];
      assert.equal(ip.deferred, 1);
      assert.equal(counters.report({ tenant: "-" }).rows[0]!.windows["7d"].deferred, 1);
      // Eight days later everything has slid out.
      now += 8 * 24 * HOUR;
      assert.equal(counters.report().rows.length, 0);
    } finally {
      await counters.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("survives a reopen", async () => {
    const dir = await mkdtemp(join(tmpdir(), "counters-"));
    const now = () => start;
    try {
      const first = await openCounters({ dir, now });
      first.record({
        kind: "complaint",
        tenant: "t",
        sourceIp: "192.0.2.1",
        provider: "x.example",
        at: start,
      });
      await first.close();
      const second = await openCounters({ dir, now });
      const row = second.report({ ip: "192.0.2.1" }).rows[0];
      assert.equal(row?.windows["1h"].complaints, 1);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
