import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { Nexthop } from "./types.ts";
import {
  isHostname,
  nexthopName,
  parseCidr,
  parseDuration,
  parseHostPort,
  parseNexthop,
  parseSize,
} from "./values.ts";

describe("parseDuration", () => {
  test("a plain number is seconds", () => {
    assert.equal(parseDuration(30), 30_000);
    assert.equal(parseDuration(0.5), 500);
    assert.equal(parseDuration(0), 0);
  });

  test("every unit", () => {
    assert.deepEqual(
      ["500ms", "30s", "5m", "2h", "5d", "1w", "1.5h", "10 s"].map(parseDuration),
      [500, 30_000, 300_000, 7_200_000, 432_000_000, 604_800_000, 5_400_000, 10_000],
    );
  });

  test("rejects what is not a duration", () => {
    for (const bad of ["5", "5 minutes", "m", "-5s", "5M", "5x", "", -1, Number.NaN, true, null, [], {}]) {
      assert.equal(parseDuration(bad), undefined, String(bad));
    }
  });
});

describe("parseSize", () => {
  test("a plain number is bytes", () => {
    assert.equal(parseSize(1024), 1024);
  });

  test("decimal and binary units, any case", () => {
    assert.deepEqual(
      ["10B", "1KB", "1KiB", "25MiB", "10MB", "1GB", "1GiB", "25mib", "1.5 KB"].map(parseSize),
      [10, 1000, 1024, 25 * 1024 ** 2, 10_000_000, 1e9, 1024 ** 3, 25 * 1024 ** 2, 1500],
    );
  });

  test("rejects what is not a size", () => {
    for (const bad of ["25", "25 MiBs", "1TB", "MiB", 1.5, -1, "-1KB", null, true]) {
      assert.equal(parseSize(bad), undefined, String(bad));
    }
  });
});

describe("parseHostPort", () => {
  const listen = { minPort: 0 };
  test("host:port, [ipv6]:port, host name", () => {
    assert.deepEqual(parseHostPort("127.0.0.1:2525", listen), { host: "127.0.0.1", port: 2525 });
    assert.deepEqual(parseHostPort("[::1]:0", listen), { host: "::1", port: 0 });
    assert.deepEqual(parseHostPort("localhost:25", listen), { host: "localhost", port: 25 });
  });

  test("a missing port needs a default", () => {
    assert.equal(parseHostPort("127.0.0.1", listen), undefined);
    assert.deepEqual(parseHostPort("127.0.0.1", { minPort: 1, defaultPort: 53 }), {
      host: "127.0.0.1",
      port: 53,
    });
    assert.deepEqual(parseHostPort("::1", { minPort: 1, defaultPort: 53 }), { host: "::1", port: 53 });
  });

  test("rejects bad ports and hosts", () => {
    for (const bad of [
      "127.0.0.1:70000",
      "127.0.0.1:x",
      "127.0.0.1:",
      "::1:25",
      "[::1",
      "bad host:25",
      ":25",
      25,
    ]) {
      assert.equal(parseHostPort(bad, listen), undefined, String(bad));
    }
    assert.equal(parseHostPort("127.0.0.1:0", { minPort: 1 }), undefined);
  });

  test("ipOnly refuses host names", () => {
    assert.equal(parseHostPort("dns.example:53", { minPort: 1, ipOnly: true }), undefined);
  });
});

describe("parseCidr", () => {
  test("accepts v4 and v6 networks, and bare addresses as single hosts", () => {
    assert.equal(parseCidr("10.0.0.0/8"), "10.0.0.0/8");
    assert.equal(parseCidr("2001:db8::/32"), "2001:db8::/32");
    assert.equal(parseCidr("192.0.2.7"), "192.0.2.7/32");
    assert.equal(parseCidr("::1"), "::1/128");
  });

  test("rejects bad prefixes and addresses", () => {
    for (const bad of [
      "10.0.0.0/33",
      "::/129",
      "10.0.0/8",
      "10.0.0.0/",
      "10.0.0.0/8/8",
      "example.com/8",
      "10.0.0.0/-1",
      8,
    ]) {
      assert.equal(parseCidr(bad), undefined, String(bad));
    }
  });
});

describe("parseNexthop", () => {
  test("the three forms", () => {
    assert.deepEqual(parseNexthop("mx"), { kind: "mx" });
    assert.deepEqual(parseNexthop("[relay.example]:587"), {
      kind: "host",
      host: "relay.example",
      port: 587,
      lookupMx: false,
    });
    assert.deepEqual(parseNexthop("[::1]"), { kind: "host", host: "::1", port: undefined, lookupMx: false });
    assert.deepEqual(parseNexthop("relay.example"), {
      kind: "host",
      host: "relay.example",
      port: undefined,
      lookupMx: true,
    });
    assert.deepEqual(parseNexthop("relay.example:26"), {
      kind: "host",
      host: "relay.example",
      port: 26,
      lookupMx: true,
    });
  });

  test("an IP literal is never MX-looked-up", () => {
    assert.deepEqual(parseNexthop("192.0.2.1:25"), {
      kind: "host",
      host: "192.0.2.1",
      port: 25,
      lookupMx: false,
    });
  });

  test("LMTP to a host (port 24 by default, never an MX lookup) or a Unix socket", () => {
    const tcp = (host: string, port: number) => ({ kind: "lmtp", host, port, socketPath: null });
    assert.deepEqual(parseNexthop("lmtp:[store.example]:2424"), tcp("store.example", 2424));
    assert.deepEqual(parseNexthop("lmtp:store.example"), tcp("store.example", 24));
    assert.deepEqual(parseNexthop("lmtp:10.0.0.5:24"), tcp("10.0.0.5", 24));
    assert.deepEqual(parseNexthop("lmtp:unix:/run/dovecot/lmtp"), {
      kind: "lmtp",
      host: null,
      port: null,
      socketPath: "/run/dovecot/lmtp",
    });
  });

  test("nexthopName writes a nexthop back as the config file would", () => {
    const names: [Nexthop, string][] = [
      [{ kind: "mx", port: 25 }, "mx"],
      [{ kind: "host", host: "relay.example", port: 2525, lookupMx: false }, "[relay.example]:2525"],
      [{ kind: "host", host: "relay.example", port: 26, lookupMx: true }, "relay.example:26"],
      [{ kind: "lmtp", host: "a.example", port: 24, socketPath: null }, "lmtp:[a.example]:24"],
      [{ kind: "lmtp", host: null, port: null, socketPath: "/x" }, "lmtp:unix:/x"],
    ];
    for (const [nexthop, name] of names) assert.equal(nexthopName(nexthop), name);
  });

  test("rejects junk", () => {
    for (const bad of [
      "",
      "[relay]:0",
      "relay:99999",
      "a b",
      "lmtp:unix:relative",
      "lmtp:",
      "lmtp:a b",
      "lmtp:x:0",
      null,
      25,
    ]) {
      assert.equal(parseNexthop(bad), undefined, String(bad));
    }
  });
});

test("isHostname", () => {
  assert.ok(isHostname("mx1.example.com"));
  assert.ok(isHostname("localhost"));
  assert.ok(!isHostname("-bad.example"));
  assert.ok(!isHostname("under_score.example"));
  assert.ok(!isHostname(""));
});
