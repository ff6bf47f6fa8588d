import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pino from "pino";
import { builtinConfig } from "../config/load.ts";
import type { Config, PoolStrategy, TransportConfig } from "../config/types.ts";
import { CONNECT_FAILURE_LIMIT, createSourceSelector, UNHEALTHY_FOR_MS } from "./pool.ts";

const ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

/** A config with sources out2..out4 and one pool "p" over them. */
function setup(strategy: PoolStrategy, weights: number[] = [1, 1, 1]) {
  const config: Config = builtinConfig("/tmp");
  config.sources = Object.fromEntries(
    ADDRESSES.map((address, i) => [
      `out${i + 2}`,
      { name: `out${i + 2}`, address, helo: `out${i + 2}.example.test` },
    ]),
  );
  config.pools = {
    p: {
      name: "p",
      strategy,
      members: ADDRESSES.map((_, i) => ({ source: `out${i + 2}`, weight: weights[i]! })),
    },
  };
  const transport: TransportConfig = { ...config.transports.mx!, name: "pooled", pool: "p" };
  config.transports.pooled = transport;
  let now = 1_000_000;
  const lines: { level: string; msg: string }[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => lines.push(JSON.parse(line) as { level: string; msg: string }) },
  );
  const selector = createSourceSelector({ config: () => config, logger, now: () => now });
  const count = (picks: number, siteKey: (i: number) => string = () => "site") => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < picks; i++) {
      const picked = selector.pick(transport, siteKey(i));
      assert.ok(picked);
      counts[picked.address] = (counts[picked.address] ?? 0) + 1;
    }
    return counts;
  };
  return {
    config,
    transport,
    selector,
    count,
    lines,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

function within(actual: number | undefined, expected: number, tolerance: number): boolean {
  return actual !== undefined && Math.abs(actual - expected) <= expected * tolerance;
}

describe("source selection", () => {
  it("round robin spreads 1,000 picks evenly, with each source's HELO", () => {
    const { selector, transport, count } = setup("round_robin");
    const counts = count(1000);
    for (const address of ADDRESSES)
      assert.ok(within(counts[address], 1000 / 3, 0.05), JSON.stringify(counts));
    const picked = selector.pick(transport, "site");
    assert.deepEqual(picked && { ...picked, address: "x" }, {
      address: "x",
      helo: `${picked?.sourceName}.example.test`,
      sourceName: picked?.sourceName,
    });
  });

  it("weighted picks honour the weights, interleaved rather than in bursts", () => {
    const { selector, transport, count } = setup("weighted", [1, 3, 6]);
    const counts = count(1000);
    assert.deepEqual(counts, { "127.0.0.2": 100, "127.0.0.3": 300, "127.0.0.4": 600 });
    // Smooth: in any 10 consecutive picks each source appears exactly its weight's share.
    const window = Array.from({ length: 10 }, () => selector.pick(transport, "s")?.address);
    assert.equal(window.filter((a) => a === "127.0.0.2").length, 1);
    assert.equal(window.filter((a) => a === "127.0.0.4").length, 6);
    assert.notDeepEqual(window.slice(0, 6), Array(6).fill("127.0.0.4"), "not six in a row");
  });

  it("sticky keeps each site on one source and spreads sites over the pool", () => {
    const { selector, transport } = setup("sticky");
    const first = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      const site = `mx|mx${i}.example.test`;
      const a = selector.pick(transport, site)?.address;
      const b = selector.pick(transport, site)?.address;
      assert.ok(a && a === b, `site ${site} moved from ${a} to ${b}`);
      first.set(site, a);
    }
    const spread: Record<string, number> = {};
    for (const a of first.values()) spread[a] = (spread[a] ?? 0) + 1;
    for (const address of ADDRESSES) assert.ok((spread[address] ?? 0) > 60, JSON.stringify(spread));
  });

  it("sticky moves only the sites of an unhealthy source, and moves them back", () => {
    const { selector, transport, advance } = setup("sticky");
    const sites = Array.from({ length: 60 }, (_, i) => `mx|d${i}.test`);
    const before = new Map(sites.map((s) => [s, selector.pick(transport, s)?.address]));
    selector.reportBindFailure("127.0.0.3", "EADDRNOTAVAIL");
    for (const site of sites) {
      const now = selector.pick(transport, site)?.address;
      if (before.get(site) === "127.0.0.3") assert.notEqual(now, "127.0.0.3");
      else assert.equal(now, before.get(site), `${site} moved although its source is healthy`);
    }
    advance(UNHEALTHY_FOR_MS + 1);
    for (const site of sites) assert.equal(selector.pick(transport, site)?.address, before.get(site));
  });

  it("a bind failure makes a source unhealthy for a minute, loudly, and traffic avoids it", () => {
    const { selector, count, lines, advance } = setup("round_robin");
    selector.reportBindFailure("127.0.0.9", "EADDRNOTAVAIL"); // not in any pool: still reported
    selector.reportBindFailure("127.0.0.3", "EADDRNOTAVAIL");
    const error = lines.find((l) => l.level === "50" || (l.level as unknown) === 50);
    assert.ok(error, "logged at error level");
    assert.ok(
      lines.some((l) =>
        /source 127\.0\.0\.3 unusable: cannot bind 127\.0\.0\.3: EADDRNOTAVAIL — traffic moves to the other sources of pool p/.test(
          l.msg,
        ),
      ),
      JSON.stringify(lines),
    );
    assert.deepEqual(count(10), { "127.0.0.2": 5, "127.0.0.4": 5 });
    const view = selector.health().find((h) => h.address === "127.0.0.3");
    assert.deepEqual(view && [view.name, view.healthy, view.until], [
      "out3",
      false,
      1_000_000 + UNHEALTHY_FOR_MS,
    ]);
    assert.match(view?.reason ?? "", /EADDRNOTAVAIL/);
    advance(UNHEALTHY_FOR_MS);
    assert.equal(count(9)["127.0.0.3"], 3, "healthy again after the minute");
    assert.deepEqual(
      selector.health().find((h) => h.address === "127.0.0.3"),
      { name: "out3", address: "127.0.0.3", healthy: true, reason: null, until: null },
    );
  });

  it("consecutive connect failures on several sites make a source unhealthy; a success resets", () => {
    const { selector } = setup("round_robin");
    const healthy = () => selector.health().find((h) => h.address === "127.0.0.2")?.healthy;
    for (let i = 0; i < CONNECT_FAILURE_LIMIT * 2; i++)
      selector.reportConnectFailure("127.0.0.2", "one-site");
    assert.equal(healthy(), true, "one dead destination says nothing about the source");
    selector.reportSuccess("127.0.0.2");
    for (let i = 0; i < CONNECT_FAILURE_LIMIT - 1; i++) selector.reportConnectFailure("127.0.0.2", `s${i}`);
    selector.reportSuccess("127.0.0.2");
    selector.reportConnectFailure("127.0.0.2", "last");
    assert.equal(healthy(), true, "a success in between resets the count");
    for (let i = 0; i < CONNECT_FAILURE_LIMIT - 1; i++) selector.reportConnectFailure("127.0.0.2", `t${i}`);
    assert.equal(healthy(), false);
  });

  it("uses unhealthy sources when none is healthy, and says so", () => {
    const { selector, count, lines } = setup("round_robin");
    for (const a of ADDRESSES) selector.reportBindFailure(a, "EADDRNOTAVAIL");
    const counts = count(30);
    assert.deepEqual(counts, { "127.0.0.2": 10, "127.0.0.3": 10, "127.0.0.4": 10 });
    assert.equal(
      lines.filter((l) => /every source of pool p is unhealthy/.test(l.msg)).length,
      1,
      "once, not per pick",
    );
  });

  it("without a pool: the bind address with the transport's HELO, or the OS default", () => {
    const { selector, config } = setup("round_robin");
    const plain = config.transports.mx!;
    assert.equal(selector.pick(plain, "s"), null);
    const bound = { ...plain, bindAddress: "127.0.0.3", helo: "transport.example.test" };
    assert.deepEqual(selector.pick(bound, "s"), {
      address: "127.0.0.3",
      helo: "transport.example.test",
      sourceName: "out3",
    });
  });
});
