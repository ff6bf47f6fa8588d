import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { ConfigError } from "./errors.ts";
import { formatConfigError } from "./errors.ts";
import { parseConfig } from "./load.ts";
import { parseDomainPattern, parseMxPattern, parseSenderPattern } from "./schema-routing.ts";
import type { Config } from "./types.ts";

function parsedOk(text: string): Config {
  const result = parseConfig(text, "m.yaml", "/etc/mf", { defaultHostname: "mta.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result.config;
}

function errorsOf(text: string): ConfigError[] {
  const result = parseConfig(text, "m.yaml", "/etc/mf", { defaultHostname: "mta.example" });
  assert.equal(result.ok, false, "expected the config to be rejected");
  return result.ok ? [] : result.errors;
}

/** The errors as "line:col key" plus the message, for compact assertions. */
function where(errors: ConfigError[]): string[] {
  return errors.map((e) => `${e.line}:${e.col} ${e.key}`);
}

describe("sources, pools and routes in the schema", () => {
  test("an empty file has no sources, pools or routes; transports have no pool and no limits", () => {
    const config = parsedOk("");
    assert.deepEqual(config.sources, {});
    assert.deepEqual(config.pools, {});
    assert.deepEqual(config.routes, []);
    assert.equal(config.transports.mx?.pool, null);
    assert.deepEqual(config.transports.mx?.limits, { concurrency: 20, rateDelayMs: 0, maxPerHour: 0 });
  });

  test("limits.concurrency is the transport's concurrency; rate_delay and max_per_hour parse", () => {
    const t = parsedOk("transports:\n  a: { concurrency: 7, rate_delay: 0.4s, max_per_hour: 360 }\n")
      .transports.a;
    assert.equal(t?.concurrency, 7);
    assert.deepEqual(t?.limits, { concurrency: 7, rateDelayMs: 400, maxPerHour: 360 });
  });

  test("a source's HELO defaults to the hostname; pool members take weight 1 unless given", () => {
    const config = parsedOk(
      [
        "sources:",
        "  a: { address: 127.0.0.2 }",
        "  b: { address: 127.0.0.3, helo: b.example }",
        "pools:",
        "  p: { sources: [a, { source: b, weight: 3 }] }",
      ].join("\n"),
    );
    assert.deepEqual(config.sources.a, { name: "a", address: "127.0.0.2", helo: "mta.example" });
    assert.deepEqual(config.pools.p, {
      name: "p",
      strategy: "round_robin",
      members: [
        { source: "a", weight: 1 },
        { source: "b", weight: 3 },
      ],
    });
  });

  test("route patterns are lower-cased, one string is a list of one, index is 1-based", () => {
    const config = parsedOk(
      [
        "routes:",
        "  - match: { recipient_domain: Example.COM }",
        "    transport: mx",
        "  - name: gmail",
        "    match: { mx: '*.Google.com.', sender: [A@B.Example, '<>'], sender_domain: .News.example }",
        "    transport: mx",
      ].join("\n"),
    );
    assert.deepEqual(config.routes, [
      {
        index: 1,
        name: null,
        match: { recipientDomain: ["example.com"], mx: null, sender: null, senderDomain: null, tenant: null },
        transport: "mx",
      },
      {
        index: 2,
        name: "gmail",
        match: {
          recipientDomain: null,
          mx: ["*.google.com"],
          sender: ["a@b.example", ""],
          senderDomain: [".news.example"],
          tenant: null,
        },
        transport: "mx",
      },
    ]);
  });

  test("unknown pool, source and transport are reported where they are named, with did-you-mean", () => {
    const errors = errorsOf(
      [
        "sources:",
        "  out2: { address: 127.0.0.2 }",
        "pools:",
        "  shared: { sources: [out2, { source: out3 }, ot2] }",
        "transports:",
        "  gmail: { pool: shard }",
        "routes:",
        "  - match: { mx: x.example }",
        "    transport: gmial",
      ].join("\n"),
    );
    assert.deepEqual(where(errors), [
      "4:39 pools.shared.sources.1.source",
      "4:47 pools.shared.sources.2",
      "6:18 transports.gmail.pool",
      "9:16 routes.0.transport",
    ]);
    assert.match(
      errors[0]?.message ?? "",
      /found "out3", expected the name of a configured source \(one of out2\)/,
    );
    assert.match(errors[1]?.message ?? "", /did you mean "out2"\?/);
    assert.match(errors[2]?.message ?? "", /did you mean "shared"\?/);
    assert.match(errors[3]?.message ?? "", /did you mean "gmail"\?/);
  });

  test("pool together with bind_address is an error at bind_address", () => {
    const errors = errorsOf(
      [
        "sources: { a: { address: 127.0.0.2 } }",
        "pools: { p: { sources: [a] } }",
        "transports:",
        "  t:",
        "    pool: p",
        "    bind_address: 127.0.0.9",
      ].join("\n"),
    );
    assert.deepEqual(where(errors), ["6:19 transports.t.bind_address"]);
    assert.match(errors[0]?.message ?? "", /either pool or bind_address, not both/);
  });

  test("a route needs at least one condition, and every list at least one entry", () => {
    const errors = errorsOf(
      ["routes:", "  - match: {}", "    transport: mx", "  - match: { mx: [] }", "    transport: mx"].join(
        "\n",
      ),
    );
    assert.deepEqual(where(errors), ["2:12 routes.0.match", "4:18 routes.1.match.mx"]);
    assert.match(
      errors[0]?.message ?? "",
      /at least one of recipient_domain, mx, sender, sender_domain, tenant/,
    );
  });

  test("bad patterns point at the entry; unknown keys in a pool member suggest the right one", () => {
    const errors = errorsOf(
      [
        "pools:",
        "  p: { sources: [{ source: a, wieght: 2 }] }",
        "routes:",
        "  - match: { mx: ['*.ok.example', 'bad..example'], sender: nobody }",
        "    transport: mx",
      ].join("\n"),
    );
    assert.deepEqual(where(errors), [
      "2:31 pools.p.sources.0.wieght",
      "4:35 routes.0.match.mx.1",
      "4:60 routes.0.match.sender",
    ]);
    assert.match(errors[0]?.message ?? "", /did you mean "weight"\?/);
  });

  test("a source listed twice in one pool is an error", () => {
    const errors = errorsOf("sources: { a: { address: 127.0.0.2 } }\npools: { p: { sources: [a, a] } }\n");
    assert.deepEqual(where(errors), ["2:28 pools.p.sources.1"]);
  });
});

describe("route patterns", () => {
  test("domains: exact or .subdomain, lower-cased, trailing dot dropped", () => {
    assert.equal(parseDomainPattern("Example.COM."), "example.com");
    assert.equal(parseDomainPattern(".Example.com"), ".example.com");
    for (const bad of ["", ".", "..x.com", "a b.com", "*.x.com", "x@y.com"]) {
      assert.equal(parseDomainPattern(bad), undefined, bad);
    }
  });

  test("mx: exact host or *.suffix", () => {
    assert.equal(parseMxPattern("*.Google.com"), "*.google.com");
    assert.equal(parseMxPattern("mx.example.com."), "mx.example.com");
    for (const bad of ["*", "*.", "a.*.com", "**.x.com", ".x.com"])
      assert.equal(parseMxPattern(bad), undefined, bad);
  });

  test("sender: an address, or <> / empty for the null sender", () => {
    assert.equal(parseSenderPattern("News@Example.com"), "news@example.com");
    assert.equal(parseSenderPattern("<>"), "");
    assert.equal(parseSenderPattern(""), "");
    assert.equal(parseSenderPattern("example.com"), undefined);
  });
});
