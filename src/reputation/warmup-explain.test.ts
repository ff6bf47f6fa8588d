import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { formatConfigError } from "../config/errors.ts";
import { parseConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { explainRoute, formatExplanation } from "../routing/explain.ts";
import type { WarmupRow } from "./warmup.ts";
import { candidateWarmup } from "./warmup-explain.ts";

const DAY_MS = 86_400_000;
const START = Date.UTC(2026, 10, 1);

function config(): Config {
  const text = [
    "sources:",
    "  warming:",
    "    address: 127.0.0.2",
    "    warmup: { start_date: 2026-11-01, schedules: { google: { days: [3, 5, 8] } } }",
    "  warm: { address: 127.0.0.3 }",
    "pools:",
    "  out: { sources: [warming, warm] }",
    "transports:",
    "  mx: { pool: out }",
  ].join("\n");
  const result = parseConfig(text, "m.yaml", "/etc/mf", { defaultHostname: "mta.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result.config;
}

const GMAIL = ["gmail-smtp-in.l.google.com"];

describe("warm-up in route explain", () => {
  test("from the config alone: day and cap, use unknown", () => {
    const w = candidateWarmup(config(), "127.0.0.2", GMAIL, null, START + DAY_MS + 5);
    assert.deepEqual(w, {
      provider: "google",
      day: 2,
      cap: 5,
      used: null,
      warm: false,
      overflow: "warm_ips",
      text: "warming for google: day 2, cap 5/day; overflow warm_ips",
    });
    assert.equal(candidateWarmup(config(), "127.0.0.3", GMAIL, null, START), null);
    assert.equal(candidateWarmup(config(), "127.0.0.2", ["mx.example.org"], null, START), null);
    assert.match(
      candidateWarmup(config(), "127.0.0.2", GMAIL, null, START + 5 * DAY_MS)?.text ?? "",
      /^warm for/,
    );
  });

  test("with the instance's rows: today's use, and a reached cap", () => {
    const row: WarmupRow = {
      source: "warming",
      address: "127.0.0.2",
      provider: "google",
      day: 3,
      cap: 8,
      used: 8,
      remaining: 0,
      warm: false,
      overflow: "warm_ips",
    };
    const e = explainRoute(config(), {
      sender: "a@client.test",
      recipient: "b@gmail.com",
      mx: { ok: true, hosts: GMAIL },
      site: {
        kind: "site",
        site: {
          key: "mx|gmail-smtp-in.l.google.com",
          transport: config().transports.mx!,
          hosts: [{ name: GMAIL[0]!, preference: 5, addresses: ["192.0.2.1"] }],
          port: 25,
        },
      },
      health: { known: false, reason: "instance not running" },
      warmup: [row],
    });
    const [warming, warm] = e.transport?.sources ?? [];
    assert.equal(warming?.warmup?.text, "warm-up cap reached for google: day 3, 8/8; overflow warm_ips");
    assert.equal(warm?.warmup, undefined);
    assert.match(formatExplanation(e), /127\.0\.0\.2 .*warm-up cap reached for google: day 3, 8\/8/);
  });
});
