import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { formatConfigError } from "../config/errors.ts";
import { parseConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { type ExplainFacts, explainRoute, formatDuration, formatExplanation } from "./explain.ts";

function configFrom(yaml: string): Config {
  const result = parseConfig(yaml, "mf.yaml", "/tmp", { defaultHostname: "mta.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result.config;
}

const config = configFrom(`
sources:
  out2: { address: 127.0.0.2, helo: out2.example.com }
  out3: { address: 127.0.0.3, helo: out3.example.com }
pools:
  shared: { strategy: weighted, sources: [out2, { source: out3, weight: 3 }] }
transports:
  gmail: { pool: shared, concurrency: 10, rate_delay: 0.4s, max_per_hour: 500, max_queue_lifetime: 1d, retry_schedule: [5m, 1h] }
  fixed: { bind_address: 127.0.0.9, nexthop: "[relay.example]:587" }
routes:
  - name: marketing-to-gmail
    match: { sender_domain: news.example.com, mx: "*.google.com" }
    transport: gmail
  - match: { sender: "<>" }
    transport: fixed
`);

const googleSite: ExplainFacts["site"] = {
  kind: "site",
  site: {
    key: "gmail|aspmx.l.google.com",
    transport: config.transports.gmail!,
    port: 25,
    hosts: [{ name: "aspmx.l.google.com", preference: 10, addresses: ["192.0.2.25"] }],
  },
};

function facts(overrides: Partial<ExplainFacts>): ExplainFacts {
  return {
    sender: "promo@news.example.com",
    recipient: "alice@customer.example",
    mx: { ok: true, hosts: ["aspmx.l.google.com"] },
    site: googleSite,
    health: { known: false, reason: "instance not running" },
    ...overrides,
  };
}

describe("explainRoute", () => {
  test("a matched mx rule: rule, pool with candidates and health, limits, site", () => {
    const e = explainRoute(
      config,
      facts({
        health: {
          known: true,
          sources: [
            { name: "out2", address: "127.0.0.2", healthy: true, reason: null, until: null },
            {
              name: "out3",
              address: "127.0.0.3",
              healthy: false,
              reason: "421 blocked",
              until: "2030-01-01T00:00:00Z",
            },
          ],
        },
      }),
    );
    assert.deepEqual(e.rule, {
      index: 1,
      name: "marketing-to-gmail",
      conditions: "mx [*.google.com] and sender_domain [news.example.com]",
    });
    assert.equal(e.transport?.name, "gmail");
    assert.deepEqual(e.transport?.pool, { name: "shared", strategy: "weighted" });
    assert.deepEqual(
      e.transport?.sources.map((s) => [s.name, s.address, s.helo, s.weight, s.health?.healthy]),
      [
        ["out2", "127.0.0.2", "out2.example.com", 1, true],
        ["out3", "127.0.0.3", "out3.example.com", 3, false],
      ],
    );
    assert.deepEqual(e.transport?.limits, { concurrency: 10, rateDelayMs: 400, maxPerHour: 500 });
    const text = formatExplanation(e);
    assert.match(
      text,
      /rule: +#1 "marketing-to-gmail": mx \[\*\.google\.com\] and sender_domain \[news\.example\.com\]/,
    );
    assert.match(text, /pool: +shared \(weighted\)/);
    assert.match(text, /out2 127\.0\.0\.2 helo out2\.example\.com, weight 1: healthy/);
    assert.match(
      text,
      /out3 127\.0\.0\.3 helo out3\.example\.com, weight 3: UNHEALTHY \(421 blocked\) until 2030/,
    );
    assert.match(text, /concurrency 10, rate delay 400ms, max\/hour 500/);
    assert.match(text, /max lifetime 1d; retry 5m, 1h \(last repeats\)/);
    assert.match(
      text,
      /site: +gmail\|aspmx\.l\.google\.com \(port 25\)\n +10 aspmx\.l\.google\.com 192\.0\.2\.25/,
    );
    assert.doesNotMatch(text, /health: unknown/);
  });

  test("MX unknown: the mx rule cannot match, the default transport is explained, and it says why", () => {
    const e = explainRoute(config, facts({ mx: { ok: false, reason: "DNS lookup failed" }, site: null }));
    assert.equal(e.rule, null);
    assert.equal(e.transport?.name, "mx");
    const text = formatExplanation(e);
    assert.match(text, /mx hosts: +unknown: DNS lookup failed \(a rule with an mx condition cannot match\)/);
    assert.match(text, /rule: +none matched: default transport/);
    assert.match(text, /source: +OS default address/);
    assert.match(text, /health: unknown \(instance not running\)/);
  });

  test("bind_address transport, null sender, and an unresolvable site", () => {
    const e = explainRoute(
      config,
      facts({
        sender: "",
        site: {
          kind: "failure",
          permanent: false,
          scope: "destination",
          reply: { code: 451, enhanced: "4.4.3", text: "lookup failed" },
        },
      }),
    );
    assert.equal(e.rule?.conditions, "sender [<>]");
    assert.deepEqual(e.transport?.sources, [
      { name: null, address: "127.0.0.9", helo: "mta.example", weight: 1, health: null },
    ]);
    const text = formatExplanation(e);
    assert.match(text, /route for <> -> <alice@customer\.example>/);
    assert.match(text, /nexthop: +\[relay\.example\]:587 \(no MX lookup\)/);
    assert.match(text, /source: +bind_address\n +127\.0\.0\.9 helo mta\.example: health unknown/);
    assert.match(text, /site: +not resolved: 451 4\.4\.3 lookup failed/);
  });

  test("a recipient without a domain is explained as an error", () => {
    const e = explainRoute(
      config,
      facts({ recipient: "postmaster", mx: { ok: false, reason: "no domain" }, site: null }),
    );
    assert.equal(e.transport, null);
    assert.match(formatExplanation(e), /error: +recipient <postmaster> has no domain/);
  });
});

test("formatDuration", () => {
  assert.equal(formatDuration(0), "0");
  assert.equal(formatDuration(400), "400ms");
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(86_400_000), "1d");
  assert.equal(formatDuration(1500), "1s500ms");
});

describe("explainRoute with a tenant", () => {
  const tenantConfig = configFrom(`
transports:
  acme: {}
routes:
  - name: acme
    match: { tenant: acme }
    transport: acme
`);

  test("--tenant picks the tenant's rule and says so", () => {
    const e = explainRoute(tenantConfig, facts({ tenant: "acme", site: null }));
    assert.equal(e.tenant, "acme");
    assert.equal(e.rule?.conditions, "tenant [acme]");
    assert.equal(e.transport?.name, "acme");
    assert.match(formatExplanation(e), /^ {2}tenant: {5}acme$/m);
    const none = explainRoute(tenantConfig, facts({ site: null }));
    assert.equal(none.tenant, null);
    assert.equal(none.transport?.name, "mx");
  });
});
