import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DnsServer, startDnsServer } from "../../test/support/dns-server.ts";
import { classifyDnsError, createDnsResolver, type DnsLookups } from "./dns-resolver.ts";

describe("dns resolver", () => {
  let server: DnsServer;
  let dns: DnsLookups;

  before(async () => {
    server = await startDnsServer({
      "example.test": { mx: [{ preference: 10, exchange: "mx.example.test" }], ttl: 30 },
      "mx.example.test": { a: ["192.0.2.1", "192.0.2.2"], aaaa: ["2001:db8::1"], ttl: 45 },
      "fail.test": { behaviour: "servfail" },
      "slow.test": { behaviour: "timeout" },
    });
    dns = createDnsResolver({
      servers: [{ host: server.host, port: server.port }],
      timeoutMs: 200,
      tries: 1,
    });
  });

  after(async () => {
    await server.close();
  });

  it("returns records with their TTL", async () => {
    assert.deepEqual(await dns.mx("example.test"), {
      ok: true,
      records: [{ exchange: "mx.example.test", preference: 10 }],
      ttl: null,
    });
    assert.deepEqual(await dns.ipv4("mx.example.test"), {
      ok: true,
      records: ["192.0.2.1", "192.0.2.2"],
      ttl: 45,
    });
    assert.deepEqual(await dns.ipv6("mx.example.test"), { ok: true, records: ["2001:db8::1"], ttl: 45 });
  });

  it("classifies NXDOMAIN, NODATA, SERVFAIL and timeouts as data", async () => {
    const failureOf = async (p: ReturnType<DnsLookups["mx"]>) => {
      const r = await p;
      assert.equal(r.ok, false);
      return r.ok ? null : [r.failure, r.code];
    };
    assert.deepEqual(await failureOf(dns.mx("nowhere.test")), ["nonexistent", "ENOTFOUND"]);
    assert.deepEqual(await failureOf(dns.mx("mx.example.test")), ["nodata", "ENODATA"]);
    assert.deepEqual(await failureOf(dns.mx("fail.test")), ["temporary", "ESERVFAIL"]);
    assert.deepEqual(await failureOf(dns.mx("slow.test")), ["temporary", "ETIMEOUT"]);
  });

  it("counts unknown and connection errors as temporary", () => {
    assert.equal(classifyDnsError("ECONNREFUSED"), "temporary");
    assert.equal(classifyDnsError(undefined), "temporary");
    assert.equal(classifyDnsError("ENOTFOUND"), "nonexistent");
  });
});
