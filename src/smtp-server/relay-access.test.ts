import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRelayAccess, isLocalDomain, plainAddress, relayRefusal } from "./relay-access.ts";

describe("createRelayAccess", () => {
  it("trusts addresses inside an IPv4 network, also when IPv4-mapped", () => {
    const access = createRelayAccess(["127.0.0.0/8", "192.0.2.7"]);
    assert.equal(access.isTrusted("127.0.0.1"), true);
    assert.equal(access.isTrusted("::ffff:127.0.0.1"), true);
    assert.equal(access.isTrusted("::FFFF:192.0.2.7"), true);
    assert.equal(access.isTrusted("192.0.2.8"), false);
    assert.equal(access.isTrusted("10.0.0.1"), false);
  });

  it("handles IPv6 networks", () => {
    const access = createRelayAccess(["::1/128", "2001:db8::/32"]);
    assert.equal(access.isTrusted("::1"), true);
    assert.equal(access.isTrusted("2001:db8:1::5"), true);
    assert.equal(access.isTrusted("2001:db9::1"), false);
    assert.equal(access.isTrusted("127.0.0.1"), false);
  });

  it("trusts nobody with an empty list, and never a non-address", () => {
    assert.equal(createRelayAccess([]).isTrusted("127.0.0.1"), false);
    assert.equal(createRelayAccess(["0.0.0.0/0"]).isTrusted("not-an-ip"), false);
  });

  it("excludes 127.0.0.1 when only 127.0.0.2/32 is trusted", () => {
    const access = createRelayAccess(["127.0.0.2/32"]);
    assert.equal(access.isTrusted("127.0.0.1"), false);
    assert.equal(access.isTrusted("127.0.0.2"), true);
  });

  it("refuses malformed networks at start-up", () => {
    for (const bad of ["127.0.0.0/33", "example.com", "10.0.0.0/8/1", "::1/129", "10.0.0.0/x", ""]) {
      assert.throws(() => createRelayAccess([bad]), /trusted_networks/, bad);
    }
  });
});

describe("plainAddress", () => {
  it("unwraps IPv4-mapped IPv6 only", () => {
    assert.equal(plainAddress("::ffff:10.1.2.3"), "10.1.2.3");
    assert.equal(plainAddress("::1"), "::1");
    assert.equal(plainAddress("10.1.2.3"), "10.1.2.3");
  });
});

describe("relayRefusal", () => {
  const localDomains = ["bounces.example.com", ".fbl.example.com"];
  const untrusted = (rawPath: string, address = rawPath.replace(/^<|>$/g, "").replace(/^@[^:]*:/, "")) =>
    relayRefusal({ trusted: false, authenticated: false, address, rawPath, localDomains });

  it("lets trusted and authenticated clients send anywhere", () => {
    for (const who of [
      { trusted: true, authenticated: false },
      { trusted: false, authenticated: true },
    ]) {
      assert.equal(
        relayRefusal({ ...who, address: "u@foreign.example", rawPath: "<u@foreign.example>", localDomains }),
        null,
      );
    }
  });

  it("lets others send only to a plain address at a local domain (exact or .subdomain)", () => {
    assert.equal(untrusted("<u@bounces.example.com>"), null);
    assert.equal(untrusted("<U@Bounces.Example.COM>"), null);
    assert.equal(untrusted("<u@x.fbl.example.com>"), null);
    assert.equal(untrusted("<u@fbl.example.com>"), "not a local domain");
    assert.equal(untrusted("<u@foreign.example>"), "not a local domain");
    assert.equal(untrusted("<u@evilbounces.example.com>"), "not a local domain");
    assert.equal(untrusted("<postmaster>", "postmaster"), "not a local domain");
  });

  it("refuses the routing tricks even at a local domain", () => {
    for (const path of [
      "<u%foreign.example@bounces.example.com>",
      "<foreign.example!u@bounces.example.com>",
      "<@relay.example:u@bounces.example.com>",
      "<@a.example,@b.example:u@bounces.example.com>",
      '<"u@foreign.example"@bounces.example.com>',
      '<"u%foreign.example"@bounces.example.com>',
      "<u@[127.0.0.1]>",
      "<u%foreign.example@[127.0.0.1]>",
    ]) {
      assert.equal(untrusted(path), "routing in address", path);
    }
  });

  it("matches local domains case-insensitively, with or without a trailing dot", () => {
    assert.equal(isLocalDomain("Bounces.Example.com.", localDomains), true);
    assert.equal(isLocalDomain("a.b.fbl.example.com", localDomains), true);
    assert.equal(isLocalDomain("example.com", localDomains), false);
  });
});
