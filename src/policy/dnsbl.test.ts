import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pino from "pino";

import { type DnsServer, startDnsServer } from "../../test/support/dns-server.ts";
import { createPolicyResolver } from "./dns.ts";
import { createDnsblCheck, dnsblQueryName, dnsblReply } from "./dnsbl.ts";

describe("dnsblQueryName", () => {
  test("IPv4: octets reversed under the zone; IPv4-mapped IPv6 counts as IPv4", () => {
    assert.equal(dnsblQueryName("192.0.2.1", "bl.test"), "1.2.0.192.bl.test");
    assert.equal(dnsblQueryName("::ffff:127.0.0.2", "bl.test"), "2.0.0.127.bl.test");
  });

  test("IPv6: all 32 nibbles reversed", () => {
    assert.equal(
      dnsblQueryName("2001:db8::1", "bl.test"),
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test",
    );
    assert.equal(
      dnsblQueryName("2001:DB8:a:bc::ff00:42", "bl.test"),
      "2.4.0.0.0.0.f.f.0.0.0.0.0.0.0.0.c.b.0.0.a.0.0.0.8.b.d.0.1.0.0.2.bl.test",
    );
  });

  test("not an IP: null", () => {
    assert.equal(dnsblQueryName("unknown", "bl.test"), null);
  });
});

describe("DNSBL lookups against a DNS server", () => {
  let dns: DnsServer;
  const logs: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void logs.push(line) });

  before(async () => {
    dns = await startDnsServer({
      "2.0.0.127.bl.test": { a: ["127.0.0.2"], txt: ["Listed: see https://bl.test/q?127.0.0.2"] },
      "3.0.0.127.bl.test": { a: ["127.0.0.4"] },
      "3.0.0.127.second.test": { a: ["127.0.0.10"], txt: ["second list"] },
      "4.0.0.127.bl.test": { a: ["127.255.255.254"] },
      "5.0.0.127.bl.test": { behaviour: "servfail" },
      "5.0.0.127.second.test": { a: ["127.0.0.2"] },
      "6.0.0.127.bl.test": { behaviour: "timeout" },
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test": { a: ["127.0.0.3"] },
    });
  });
  after(() => dns.close());

  function check(zones: string[]) {
    const resolve = createPolicyResolver({
      servers: [{ host: dns.host, port: dns.port }],
      timeoutMs: 300,
      tries: 1,
    });
    return createDnsblCheck({ zones, resolve, logger });
  }

  test("a listed client: zone, A record and TXT reason, and the 554 5.7.1 reply", async () => {
    const listing = await check(["bl.test"]).lookup("127.0.0.2");
    assert.deepEqual(listing, {
      zone: "bl.test",
      code: "127.0.0.2",
      reason: "Listed: see https://bl.test/q?127.0.0.2",
    });
    assert.deepEqual(dnsblReply("127.0.0.2", listing), {
      code: 554,
      enhanced: "5.7.1",
      text: "Service unavailable; client [127.0.0.2] blocked using bl.test; Listed: see https://bl.test/q?127.0.0.2",
    });
  });

  test("a listing without TXT; the first listing zone in config order decides", async () => {
    assert.deepEqual(await check(["bl.test", "second.test"]).lookup("127.0.0.3"), {
      zone: "bl.test",
      code: "127.0.0.4",
      reason: null,
    });
    assert.deepEqual(await check(["second.test", "bl.test"]).lookup("127.0.0.3"), {
      zone: "second.test",
      code: "127.0.0.10",
      reason: "second list",
    });
  });

  test("not listed (NXDOMAIN) and the blocklist's error codes are not listings", async () => {
    assert.equal(await check(["bl.test"]).lookup("127.0.0.1"), null);
    assert.equal(await check(["bl.test"]).lookup("127.0.0.4"), null);
    assert.ok(logs.some((l) => l.includes("error code")));
  });

  test("a failed lookup (SERVFAIL, timeout) is not listed, and is logged; other zones still count", async () => {
    logs.length = 0;
    assert.equal(await check(["bl.test"]).lookup("127.0.0.6"), null);
    assert.equal((await check(["bl.test", "second.test"]).lookup("127.0.0.5"))?.zone, "second.test");
    assert.equal(logs.filter((l) => l.includes("DNSBL lookup failed")).length, 2);
  });

  test("IPv6 clients are looked up in nibble format", async () => {
    assert.equal((await check(["bl.test"]).lookup("2001:db8::1"))?.code, "127.0.0.3");
  });
});
