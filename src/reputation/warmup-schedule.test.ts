import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { capOn, DAY_MS, nextUtcDay, providerOfHosts, utcDay, warmupDay } from "./warmup-schedule.ts";

describe("warm-up schedule math", () => {
  test("a day table gives its entries, then no cap", () => {
    const table = { kind: "table" as const, days: [50, 100, 200] };
    assert.deepEqual(
      [1, 2, 3, 4, 40].map((d) => capOn(table, d)),
      [50, 100, 200, null, null],
    );
  });

  test("growth: floor(start x growth^(n-1)) until the ceiling, then no cap", () => {
    const growth = { kind: "growth" as const, start: 50, growth: 1.5, ceiling: 400 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((d) => capOn(growth, d)),
      [50, 75, 112, 168, 253, 379, null],
    );
  });

  test("before the start date the cap is 0", () => {
    assert.equal(capOn({ kind: "table", days: [5] }, 0), 0);
    assert.equal(capOn({ kind: "growth", start: 5, growth: 2, ceiling: 100 }, -3), 0);
  });

  test("days are UTC days from the start date", () => {
    const start = Date.UTC(2026, 10, 1);
    assert.equal(warmupDay(start, start), 1);
    assert.equal(warmupDay(start, start + DAY_MS - 1), 1);
    assert.equal(warmupDay(start, start + DAY_MS), 2);
    assert.equal(warmupDay(start, Date.UTC(2026, 10, 25, 13)), 25);
    assert.equal(warmupDay(start, start - 1), 0);
    assert.equal(utcDay(Date.UTC(2026, 10, 25, 23, 59)), "2026-11-25");
    assert.equal(nextUtcDay(Date.UTC(2026, 10, 25, 13, 5)), Date.UTC(2026, 10, 26));
    assert.equal(nextUtcDay(Date.UTC(2026, 10, 26)), Date.UTC(2026, 10, 27));
  });

  test("a site's provider comes from its MX host names", () => {
    const providers = { google: ["*.google.com", "*.googlemail.com"], microsoft: ["*.outlook.com"] };
    assert.equal(providerOfHosts(["gmail-smtp-in.l.google.com."], providers), "google");
    assert.equal(providerOfHosts(["Example-COM.mail.protection.outlook.com"], providers), "microsoft");
    assert.equal(providerOfHosts(["mx.example.org", "alt.aspmx.l.google.com"], providers), "google");
    assert.equal(providerOfHosts(["mx.example.org"], providers), "default");
    assert.equal(providerOfHosts([], providers), "default");
  });
});
