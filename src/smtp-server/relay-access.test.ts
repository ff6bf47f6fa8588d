import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRelayAccess, plainAddress } from "./relay-access.ts";

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
