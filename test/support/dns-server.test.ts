/** Checks the test DNS server with node's own resolver (c-ares), the client the product uses. */
import assert from "node:assert/strict";
import { promises as dns } from "node:dns";
import { after, before, describe, it } from "node:test";
import { type DnsServer, startDnsServer } from "./dns-server.ts";

describe("test DNS server", () => {
  let server: DnsServer;
  let resolver: dns.Resolver;

  before(async () => {
    server = await startDnsServer({
      "example.test": {
        mx: [
          { preference: 20, exchange: "mx2.example.test" },
          { preference: 10, exchange: "mx1.example.test" },
        ],
        a: ["192.0.2.1"],
        txt: ["v=spf1 -all"],
      },
      "mx1.example.test": { a: ["192.0.2.10"], aaaa: ["2001:db8::10"], ttl: 120 },
      "alias.example.test": { cname: "mx1.example.test" },
      "nullmx.test": { mx: [{ preference: 0, exchange: "." }] },
      "broken.test": { behaviour: "servfail" },
      "gone.test": { behaviour: "nxdomain", a: ["192.0.2.99"] },
      "slow.test": { behaviour: "timeout" },
      "big.test": { txt: Array.from({ length: 40 }, (_, i) => `record-${i}-${"x".repeat(40)}`) },
    });
    resolver = new dns.Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([`${server.host}:${server.port}`]);
  });

  after(async () => {
    await server.close();
  });

  it("answers MX, A, AAAA and TXT", async () => {
    const mx = await resolver.resolveMx("example.test");
    assert.deepEqual(
      mx.sort((a, b) => a.priority - b.priority),
      [
        { exchange: "mx1.example.test", priority: 10 },
        { exchange: "mx2.example.test", priority: 20 },
      ],
    );
    assert.deepEqual(await resolver.resolve4("mx1.example.test", { ttl: true }), [
      { address: "192.0.2.10", ttl: 120 },
    ]);
    assert.deepEqual(await resolver.resolve6("mx1.example.test"), ["2001:db8::10"]);
    assert.deepEqual(await resolver.resolveTxt("example.test"), [["v=spf1 -all"]]);
  });

  it("follows a CNAME to the target's addresses", async () => {
    assert.deepEqual(await resolver.resolve4("alias.example.test"), ["192.0.2.10"]);
  });

  it("answers a Null MX with an empty exchange", async () => {
    assert.deepEqual(await resolver.resolveMx("nullmx.test"), [{ exchange: "", priority: 0 }]);
  });

  it("answers NXDOMAIN for unknown names and NODATA for a missing type", async () => {
    await assert.rejects(resolver.resolve4("nowhere.test"), { code: "ENOTFOUND" });
    await assert.rejects(resolver.resolveMx("mx1.example.test"), { code: "ENODATA" });
    await assert.rejects(resolver.resolve4("gone.test"), { code: "ENOTFOUND" });
  });

  it("answers SERVFAIL and can stay silent", async () => {
    await assert.rejects(resolver.resolveMx("broken.test"), { code: "ESERVFAIL" });
    await assert.rejects(resolver.resolveMx("slow.test"), { code: "ETIMEOUT" });
  });

  it("sends a large answer in full (over TCP after truncation)", async () => {
    const txt = await resolver.resolveTxt("big.test");
    assert.equal(txt.length, 40);
  });

  it("swaps zones and counts queries", async () => {
    const before = server.queries;
    server.setZone({ "example.test": { a: ["192.0.2.77"] } });
    assert.deepEqual(await resolver.resolve4("example.test"), ["192.0.2.77"]);
    await assert.rejects(resolver.resolve4("mx1.example.test"), { code: "ENOTFOUND" });
    assert.ok(server.queries >= before + 2);
  });
});
