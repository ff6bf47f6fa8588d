import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { type DnsServer, startDnsServer } from "../../test/support/dns-server.ts";
import { createDnsResolver } from "./dns-resolver.ts";
import { createDestinationResolver } from "./mx-resolver.ts";
import { testTransport } from "./test-helpers.ts";
import type { Resolution } from "./types.ts";

function site(r: Resolution) {
  assert.equal(r.kind, "site", `expected a site, got ${JSON.stringify(r)}`);
  return (r as Extract<Resolution, { kind: "site" }>).site;
}

function fail(r: Resolution) {
  assert.equal(r.kind, "failure", `expected a failure, got ${JSON.stringify(r)}`);
  return r as Extract<Resolution, { kind: "failure" }>;
}

describe("destination resolver", () => {
  let server: DnsServer;
  const logger = pino({ level: "silent" });

  before(async () => {
    server = await startDnsServer({
      "example.test": {
        mx: [
          { preference: 20, exchange: "mx-b.example.test" },
          { preference: 10, exchange: "MX-C.example.test." },
          { preference: 10, exchange: "mx-a.example.test" },
          { preference: 30, exchange: "noaddr.example.test" },
        ],
      },
      "mx-a.example.test": { a: ["192.0.2.1"], aaaa: ["2001:db8::1"] },
      "mx-b.example.test": { a: ["192.0.2.2"] },
      "mx-c.example.test": { a: ["192.0.2.3"] },
      "noaddr.example.test": { txt: ["nothing here"] },
      "other.test": {
        mx: [
          { preference: 5, exchange: "mx-b.example.test" },
          { preference: 1, exchange: "mx-a.example.test" },
          { preference: 9, exchange: "mx-c.example.test" },
          { preference: 9, exchange: "noaddr.example.test" },
        ],
      },
      "plain.test": { a: ["192.0.2.50"], txt: ["no mx here"] },
      "nullmx.test": { mx: [{ preference: 0, exchange: "." }] },
      "servfail.test": { behaviour: "servfail" },
      "slow.test": { behaviour: "timeout" },
      "local.test": { mx: [{ preference: 10, exchange: "mx.local.test" }] },
      "mx.local.test": { a: ["127.0.0.1", "10.1.2.3"], aaaa: ["::1", "fe80::1"] },
      "mixed.test": {
        mx: [
          { preference: 10, exchange: "mx.local.test" },
          { preference: 20, exchange: "mx-b.example.test" },
        ],
      },
      "relay.test": { a: ["192.0.2.80"] },
      "flaky-host.test": { mx: [{ preference: 10, exchange: "broken.flaky-host.test" }] },
      "broken.flaky-host.test": { behaviour: "servfail" },
    });
  });

  after(async () => {
    await server.close();
  });

  function resolver(allowPrivateDestinations = false, cacheMaxMs = 0) {
    const dns = createDnsResolver({
      servers: [{ host: server.host, port: server.port }],
      timeoutMs: 200,
      tries: 1,
    });
    return createDestinationResolver({ dns, allowPrivateDestinations, logger, cacheMaxMs });
  }

  it("orders MX hosts by preference then name, with their addresses", async () => {
    const s = site(await resolver().resolve("Example.TEST", testTransport()));
    assert.deepEqual(s.hosts, [
      { name: "mx-a.example.test", preference: 10, addresses: ["192.0.2.1", "2001:db8::1"] },
      { name: "mx-c.example.test", preference: 10, addresses: ["192.0.2.3"] },
      { name: "mx-b.example.test", preference: 20, addresses: ["192.0.2.2"] },
    ]);
    assert.equal(s.port, 25);
    assert.equal(s.key, "out|mx-a.example.test,mx-b.example.test,mx-c.example.test,noaddr.example.test");
  });

  it("gives domains sharing an MX set the same site key", async () => {
    const r = resolver();
    const a = site(await r.resolve("example.test", testTransport()));
    const b = site(await r.resolve("other.test", testTransport()));
    assert.equal(a.key, b.key);
    const c = site(await r.resolve("other.test", testTransport({ name: "bulk" })));
    assert.notEqual(a.key, c.key);
  });

  it("falls back to the domain's own address when it has no MX", async () => {
    const s = site(await resolver().resolve("plain.test", testTransport()));
    assert.deepEqual(s.hosts, [{ name: "plain.test", preference: 0, addresses: ["192.0.2.50"] }]);
  });

  it("bounces a Null MX domain with 556 5.1.10", async () => {
    const f = fail(await resolver().resolve("nullmx.test", testTransport()));
    assert.equal(f.permanent, true);
    assert.equal(f.reply.code, 556);
    assert.equal(f.reply.enhanced, "5.1.10");
    assert.equal(f.scope, "recipient");
  });

  it("bounces a nonexistent domain with 550 5.1.2", async () => {
    const f = fail(await resolver().resolve("nowhere.test", testTransport()));
    assert.deepEqual(
      [f.permanent, f.reply.code, f.reply.enhanced, f.scope],
      [true, 550, "5.1.2", "recipient"],
    );
  });

  it("defers on SERVFAIL and on timeout with 451 4.4.3", async () => {
    for (const domain of ["servfail.test", "slow.test", "flaky-host.test"]) {
      const f = fail(await resolver().resolve(domain, testTransport()));
      assert.deepEqual(
        [f.permanent, f.reply.code, f.reply.enhanced, f.scope],
        [false, 451, "4.4.3", "destination"],
      );
    }
  });

  it("refuses private addresses unless allowed", async () => {
    const f = fail(await resolver().resolve("local.test", testTransport()));
    assert.deepEqual([f.permanent, f.reply.code, f.reply.enhanced], [true, 550, "5.4.4"]);
    assert.match(f.reply.text, /refusing to deliver to private address .*127\.0\.0\.1/);
    const mixed = site(await resolver().resolve("mixed.test", testTransport()));
    assert.deepEqual(
      mixed.hosts.map((h) => h.name),
      ["mx-b.example.test"],
    );
    const allowed = site(await resolver(true).resolve("local.test", testTransport()));
    assert.deepEqual(allowed.hosts[0]?.addresses, ["127.0.0.1", "10.1.2.3", "::1", "fe80::1"]);
  });

  it("resolves a [host]:port nexthop without MX lookup, and with it when asked", async () => {
    const t = testTransport({ nexthop: { kind: "host", host: "relay.test", port: 2525, lookupMx: false } });
    const s = site(await resolver().resolve("anything.test", t));
    assert.equal(s.key, "out|[relay.test]:2525");
    assert.equal(s.port, 2525);
    assert.deepEqual(s.hosts, [{ name: "relay.test", preference: 0, addresses: ["192.0.2.80"] }]);
    const literal = testTransport({
      nexthop: { kind: "host", host: "127.0.0.1", port: 2525, lookupMx: false },
    });
    // An IP literal the operator wrote is trusted even in private space (relay_to uses this).
    assert.deepEqual(site(await resolver().resolve("x.test", literal)).hosts[0]?.addresses, ["127.0.0.1"]);
    const named = testTransport({
      nexthop: { kind: "host", host: "mx.local.test", port: 2525, lookupMx: false },
    });
    assert.equal(fail(await resolver().resolve("x.test", named)).reply.enhanced, "5.4.4");
    const viaMx = testTransport({
      nexthop: { kind: "host", host: "example.test", port: 2525, lookupMx: true },
    });
    const m = site(await resolver().resolve("anything.test", viaMx));
    assert.equal(m.hosts[0]?.name, "mx-a.example.test");
    assert.equal(m.port, 2525);
  });

  it("resolves an LMTP nexthop without MX lookup (private store allowed), or to its Unix socket", async () => {
    const tcp = testTransport({
      nexthop: { kind: "lmtp", host: "mx.local.test", port: 24, socketPath: null },
    });
    const s = site(await resolver().resolve("example.test", tcp));
    assert.equal(s.key, "out|lmtp:[mx.local.test]:24");
    assert.equal(s.port, 24);
    assert.deepEqual(s.hosts[0]?.addresses, ["127.0.0.1", "10.1.2.3", "::1", "fe80::1"]);
    const unix = testTransport({
      nexthop: { kind: "lmtp", host: null, port: null, socketPath: "/run/dovecot/lmtp" },
    });
    const u = site(await resolver().resolve("servfail.test", unix));
    assert.equal(u.key, "out|lmtp:unix:/run/dovecot/lmtp");
    assert.equal(u.port, 0);
    assert.deepEqual(u.hosts, [
      { name: "lmtp:unix:/run/dovecot/lmtp", preference: 0, addresses: ["/run/dovecot/lmtp"] },
    ]);
  });

  it("lists a domain's MX host names for MX-matching routes", async () => {
    const r = resolver(false, 300_000);
    assert.deepEqual(await r.mxHostNames?.("Example.TEST"), [
      "mx-c.example.test",
      "mx-a.example.test",
      "mx-b.example.test",
      "noaddr.example.test",
    ]);
    assert.deepEqual(await r.mxHostNames?.("plain.test"), ["plain.test"], "no MX: the implicit MX");
    assert.deepEqual(await r.mxHostNames?.("nullmx.test"), []);
    assert.deepEqual(await r.mxHostNames?.("nowhere.test"), []);
    assert.equal(await r.mxHostNames?.("servfail.test"), null, "unknown for now");
    // The MX answer is shared: resolving the site afterwards asks DNS no MX question again.
    const before = server.queries;
    await r.mxHostNames?.("example.test");
    assert.equal(server.queries, before);
  });

  it("reuses a cached answer within its lifetime", async () => {
    const r = resolver(false, 300_000);
    await r.resolve("example.test", testTransport());
    const before = server.queries;
    const again = site(await r.resolve("example.test", testTransport({ helo: "changed.test" })));
    assert.equal(server.queries, before);
    assert.equal(again.transport.helo, "changed.test");
  });
});
