/**
 * Scenario: `mailfleet route explain` as an operator runs it, against a real (fake) DNS server.
 * A "*.google.com" MX rule combined with a sender domain picks the pool transport for a domain
 * hosted at Google; other senders and other domains fall through to the default transport; a DNS
 * failure is said plainly and the rest is still explained. Health is "unknown" until the
 * instance runs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Explanation } from "../../src/routing/explain.ts";
import type { ZoneSpec } from "../support/dns-server.ts";
import { startWorld, type World } from "../support/e2e-world.ts";
import { runCli } from "../support/mailfleet-process.ts";
import { freePort } from "../support/ports.ts";

const zone: ZoneSpec = {
  "customer.test": {
    mx: [
      { preference: 5, exchange: "aspmx.l.google.com" },
      { preference: 10, exchange: "alt1.aspmx.l.google.com" },
    ],
  },
  "aspmx.l.google.com": { a: ["127.0.0.1"] },
  "alt1.aspmx.l.google.com": { a: ["127.0.0.1"] },
  "other.test": { mx: [{ preference: 10, exchange: "mx.other.test" }] },
  "mx.other.test": { a: ["127.0.0.1"] },
  "broken.test": { behaviour: "servfail" },
};

const routing = {
  sources: {
    out2: { address: "127.0.0.2", helo: "out2.mailfleet.test" },
    out3: { address: "127.0.0.3", helo: "out3.mailfleet.test" },
  },
  pools: { shared: { strategy: "weighted", sources: ["out2", { source: "out3", weight: 3 }] } },
  transports: { gmail: { pool: "shared", concurrency: 4, rate_delay: "400ms", max_per_hour: 1000 } },
  routes: [
    {
      name: "marketing-to-gmail",
      match: { sender_domain: ["news.example.com"], mx: ["*.google.com"] },
      transport: "gmail",
    },
  ],
};

describe("route explain", () => {
  let world: World;

  before(async () => {
    world = await startWorld({ mxPort: await freePort(), zone, config: routing, start: false });
  });

  after(async () => {
    await world?.close();
  });

  const explain = (from: string, to: string, ...extra: string[]) =>
    runCli(["route", "explain", "-c", world.configPath, "--from", from, "--to", to, ...extra]);

  it("a marketing sender to a Google-hosted domain takes the pool transport, with its MX site", async () => {
    const result = await explain("promo@news.example.com", "alice@customer.test");
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    assert.match(out, /mx hosts: +aspmx\.l\.google\.com, alt1\.aspmx\.l\.google\.com/);
    assert.match(
      out,
      /rule: +#1 "marketing-to-gmail": mx \[\*\.google\.com\] and sender_domain \[news\.example\.com\]/,
    );
    assert.match(out, /transport: +gmail/);
    assert.match(out, /pool: +shared \(weighted\)/);
    assert.match(out, /out2 127\.0\.0\.2 helo out2\.mailfleet\.test, weight 1: health unknown/);
    assert.match(out, /out3 127\.0\.0\.3 helo out3\.mailfleet\.test, weight 3/);
    assert.match(out, /health: unknown \(instance not running\)/);
    assert.match(out, /concurrency 4, rate delay 400ms, max\/hour 1000/);
    assert.match(
      out,
      /\n +5 aspmx\.l\.google\.com 127\.0\.0\.1\n +10 alt1\.aspmx\.l\.google\.com 127\.0\.0\.1/,
    );
  });

  it("--json gives the same decision as data", async () => {
    const result = await explain("promo@news.example.com", "alice@customer.test", "--json");
    assert.equal(result.code, 0, result.stderr);
    const e = JSON.parse(result.stdout) as Explanation;
    assert.equal(e.rule?.index, 1);
    assert.equal(e.transport?.name, "gmail");
    assert.deepEqual(
      e.transport?.sources.map((s) => s.address),
      ["127.0.0.2", "127.0.0.3"],
    );
    assert.equal(e.site?.ok, true);
  });

  it("another sender, or a domain hosted elsewhere, takes the default transport", async () => {
    for (const [from, to] of [
      ["bob@example.com", "alice@customer.test"],
      ["promo@news.example.com", "carol@other.test"],
    ] as const) {
      const result = await explain(from, to);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /rule: +none matched: default transport/);
      assert.match(result.stdout, /transport: +mx\n/);
    }
  });

  it("a DNS failure is reported and the rest is still explained", async () => {
    const result = await explain("promo@news.example.com", "dave@broken.test");
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /mx hosts: +unknown: .*broken\.test.* \(a rule with an mx condition cannot match\)/,
    );
    assert.match(result.stdout, /rule: +none matched: default transport/);
    assert.match(result.stdout, /site: +not resolved: 451 4\.4\.3/);
  });

  it("bad usage exits 64; a recipient without a domain exits 65", async () => {
    assert.equal((await runCli(["route", "explain", "-c", world.configPath, "--to", "a@b.test"])).code, 64);
    assert.equal((await runCli(["route", "-c", world.configPath])).code, 64);
    const noDomain = await explain("promo@news.example.com", "postmaster");
    assert.equal(noDomain.code, 65);
    assert.match(noDomain.stdout, /error: +recipient <postmaster> has no domain/);
  });

  it("with the instance running, health comes from the instance", async () => {
    await world.start();
    const result = await explain("promo@news.example.com", "alice@customer.test");
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /instance not running/);
  });
});
