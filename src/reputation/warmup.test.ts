import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { pino } from "pino";

import { formatConfigError } from "../config/errors.ts";
import { parseConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { createSourceSelector } from "../delivery/pool.ts";
import type { Site } from "../delivery/types.ts";
import type { RecipientOutcome } from "../message/types.ts";
import { createWarmup } from "./warmup.ts";
import { DAY_MS } from "./warmup-schedule.ts";
import { openWarmupCounters } from "./warmup-store.ts";

const START = Date.UTC(2026, 10, 1);

function configWith(overflow: "warm_ips" | "wait", poolOverflow?: "warm_ips" | "wait"): Config {
  const text = [
    "sources:",
    "  warming:",
    "    address: 127.0.0.2",
    "    warmup:",
    "      start_date: 2026-11-01",
    `      overflow: ${overflow}`,
    "      schedules:",
    "        google: { days: [3, 5, 8] }",
    "  warm: { address: 127.0.0.3 }",
    "pools:",
    `  out: { strategy: round_robin, sources: [warming, warm]${poolOverflow ? `, warmup_overflow: ${poolOverflow}` : ""} }`,
    "providers:",
    '  google: ["*.google.test"]',
    "transports:",
    "  mx: { pool: out }",
  ].join("\n");
  const result = parseConfig(text, "m.yaml", "/etc/mf", { defaultHostname: "mta.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result.config;
}

function siteFor(config: Config, mx: string): Site {
  return {
    key: `mx|${mx}`,
    transport: config.transports.mx!,
    hosts: [{ name: mx, preference: 10, addresses: ["127.0.0.1"] }],
    port: 25,
  };
}

const delivered = (sourceIp: string): RecipientOutcome[] => [
  {
    kind: "delivered",
    recipientIndex: 0,
    reply: { code: 250, enhanced: "2.0.0", text: "ok" },
    relay: { host: "mx.google.test", ip: "127.0.0.1", port: 25, sourceIp },
  },
];
const neverConnected: RecipientOutcome[] = [
  {
    kind: "deferred",
    recipientIndex: 0,
    reply: { code: 451, enhanced: "4.4.1", text: "connection refused" },
    scope: "destination",
    relay: null,
  },
];

describe("warm-up caps and pool selection", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-warmup-gate-"));
  after(() => rm(dir, { recursive: true, force: true }));
  const logger = pino({ level: "silent" });

  /** Sends `n` messages through selector + gate the way the scheduler does; counts per source. */
  function sendDay(config: Config, now: () => number, file: string, n: number) {
    const counters = openWarmupCounters(join(dir, file));
    const warmup = createWarmup({ config: () => config, counters, now });
    const selector = createSourceSelector({ config: () => config, logger });
    const site = siteFor(config, "mx.google.test");
    const gate = warmup.forSite(site)!;
    const sent: Record<string, number> = {};
    let waited = 0;
    for (let i = 0; i < n; i++) {
      const pick = selector.pick(site.transport, site.key, (a) => gate.accept(a))!;
      const reserved = gate.reserve(pick.address);
      if (!reserved.ok) {
        waited++;
        assert.match(reserved.reply.text, /warm-up cap reached for 127\.0\.0\.2 -> google/);
        continue;
      }
      reserved.hold?.settle(delivered(pick.address));
      sent[pick.address] = (sent[pick.address] ?? 0) + 1;
    }
    return { sent, waited, warmup, counters, gate };
  }

  test("warm_ips: the warming IP carries exactly its cap each day, the warm IP the rest", () => {
    const config = configWith("warm_ips");
    let now = START + 3_600_000;
    const expected = [3, 5, 8];
    for (let day = 1; day <= 4; day++) {
      const { sent, waited, warmup, counters } = sendDay(config, () => now, "warm-ips.jsonl", 20);
      assert.equal(waited, 0);
      assert.equal(sent["127.0.0.2"], day <= 3 ? expected[day - 1] : 10, `day ${day}`);
      assert.equal((sent["127.0.0.2"] ?? 0) + (sent["127.0.0.3"] ?? 0), 20);
      const row = warmup.state("127.0.0.2", "google")!;
      assert.deepEqual(
        [row.day, row.cap, row.used, row.remaining, row.warm],
        day <= 3 ? [day, expected[day - 1], expected[day - 1], 0, false] : [4, null, 0, null, true],
      );
      // Other providers have no schedule here (no default): never capped.
      assert.equal(warmup.state("127.0.0.2", "yahoo"), null);
      counters.close();
      now += DAY_MS;
    }
  });

  test("wait: past the cap the warming IP's share waits for the next UTC day", () => {
    const config = configWith("wait");
    const now = START + DAY_MS + 5_000;
    const { sent, waited, gate, counters } = sendDay(config, () => now, "wait.jsonl", 20);
    assert.equal(sent["127.0.0.2"], 5);
    assert.equal(sent["127.0.0.3"], 10);
    assert.equal(waited, 5);
    const denied = gate.reserve("127.0.0.2");
    assert.equal(denied.ok, false);
    if (!denied.ok) {
      assert.equal(denied.waitMs, START + 2 * DAY_MS - now);
      assert.equal(
        denied.reply.text,
        "warm-up cap reached for 127.0.0.2 -> google (day 2: 5/5); next day starts 2026-11-03T00:00Z",
      );
      assert.equal(denied.reply.enhanced, "4.7.0");
    }
    counters.close();
  });

  test("a pool's warmup_overflow overrides its members' own", () => {
    const now = START + DAY_MS + 5_000;
    const skip = sendDay(configWith("wait", "warm_ips"), () => now, "pool-warm-ips.jsonl", 20);
    assert.deepEqual([skip.sent["127.0.0.2"], skip.sent["127.0.0.3"], skip.waited], [5, 15, 0]);
    skip.counters.close();
    const wait = sendDay(configWith("warm_ips", "wait"), () => now, "pool-wait.jsonl", 20);
    assert.deepEqual([wait.sent["127.0.0.2"], wait.sent["127.0.0.3"], wait.waited], [5, 10, 5]);
    wait.counters.close();
  });

  test("an attempt that never reached the provider gives its slot back", () => {
    const config = configWith("warm_ips");
    const counters = openWarmupCounters(join(dir, "release.jsonl"));
    const warmup = createWarmup({ config: () => config, counters, now: () => START });
    const gate = warmup.forSite(siteFor(config, "mx.google.test"))!;
    const a = gate.reserve("127.0.0.2");
    const b = gate.reserve("127.0.0.2");
    assert.ok(a.ok && b.ok);
    a.hold?.settle(neverConnected);
    b.hold?.settle(delivered("127.0.0.2"));
    assert.equal(warmup.state("127.0.0.2", "google")?.used, 1);
    // Warm IPs, the OS default and other providers are not counted.
    assert.deepEqual(gate.reserve("127.0.0.3"), { ok: true, hold: null });
    assert.deepEqual(gate.reserve(null), { ok: true, hold: null });
    const other = warmup.forSite(siteFor(config, "mx.example.org"))!;
    assert.equal(other.provider, "default");
    assert.deepEqual(other.reserve("127.0.0.2"), { ok: true, hold: null });
    counters.close();
  });

  test("the report lists every source x provider with a schedule", () => {
    const config = configWith("warm_ips");
    const counters = openWarmupCounters(join(dir, "report.jsonl"));
    const warmup = createWarmup({ config: () => config, counters, now: () => START + 2 * DAY_MS });
    const report = warmup.report("main");
    assert.equal(report.nextDay, "2026-11-04T00:00:00.000Z");
    assert.deepEqual(report.rows, [
      {
        source: "warming",
        address: "127.0.0.2",
        provider: "google",
        day: 3,
        cap: 8,
        used: 0,
        remaining: 8,
        warm: false,
        overflow: "warm_ips",
      },
    ]);
    counters.close();
  });
});
