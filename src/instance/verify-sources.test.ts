import assert from "node:assert/strict";
import type { NetworkInterfaceInfo } from "node:os";
import { describe, test } from "node:test";

import { formatConfigError } from "../config/errors.ts";
import { parseConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { type Interfaces, verifySources } from "./verify-sources.ts";

function configFrom(yaml: string): Config {
  const result = parseConfig(yaml, "mf.yaml", "/tmp", { defaultHostname: "mta.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result.config;
}

function iface(address: string, cidr: string, internal = false): NetworkInterfaceInfo {
  const family = address.includes(":") ? "IPv6" : "IPv4";
  const base = { address, netmask: "", mac: "00:00:00:00:00:00", internal, cidr };
  return family === "IPv6" ? { ...base, family, scopeid: 0 } : { ...base, family };
}

/** A host with lo, eth0 (192.0.2.10/24, 2001:db8::10/64) and eth1 (198.51.100.5/24). */
const host: Interfaces = {
  lo: [iface("127.0.0.1", "127.0.0.1/8", true), iface("::1", "::1/128", true)],
  eth0: [iface("192.0.2.10", "192.0.2.10/24"), iface("2001:db8::10", "2001:db8::10/64")],
  eth1: [iface("198.51.100.5", "198.51.100.5/24")],
};

const config = configFrom(`
sources:
  a: { address: 192.0.2.10 }
  b: { address: 198.51.100.77 }
  c: { address: "2001:db8:0:0::99" }
  loop: { address: 127.0.0.42 }
  unused: { address: 192.0.2.200 }
pools:
  p: { sources: [a, b, loop] }
  v6: { sources: [c] }
transports:
  gmail: { pool: p }
  ipv6: { pool: v6 }
  fixed: { bind_address: "2001:db8::10" }
  other: { bind_address: 203.0.113.9 }
  same: { bind_address: 198.51.100.77 }
`);

describe("verifySources", () => {
  test("names each missing address, who uses it and the ip command with the right interface", () => {
    const result = verifySources(config, host);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(result.missing, [
      { name: "b", address: "198.51.100.77", usedBy: ["gmail", "same"] },
      { name: "c", address: "2001:db8:0:0::99", usedBy: ["ipv6"] },
      { name: "unused", address: "192.0.2.200", usedBy: [] },
      { name: "transports.other.bind_address", address: "203.0.113.9", usedBy: ["other"] },
    ]);
    assert.match(result.message, /ip addr add 198\.51\.100\.77\/32 dev eth1/);
    assert.match(result.message, /ip addr add 2001:db8:0:0::99\/128 dev eth0/);
    assert.match(result.message, /ip addr add 192\.0\.2\.200\/32 dev eth0/);
    // No subnet holds it: the first external interface is suggested.
    assert.match(result.message, /ip addr add 203\.0\.113\.9\/32 dev eth0/);
    assert.match(result.message, /^mf\.yaml: source addresses are not assigned on this host:/);
    assert.match(result.message, /198\.51\.100\.77 \(b; used by transport gmail, same\)/);
  });

  test("all of 127.0.0.0/8 and ::1 count as assigned, and addresses compare in any spelling", () => {
    const loopOnly = configFrom(`
sources:
  x: { address: 127.0.0.2 }
  y: { address: 127.255.0.9 }
transports:
  t6: { bind_address: "0:0:0:0:0:0:0:1" }
  t4: { bind_address: 127.0.0.3 }
`);
    assert.deepEqual(verifySources(loopOnly, { lo: [iface("127.0.0.1", "127.0.0.1/8", true)] }), {
      ok: true,
    });
  });

  test("a config without sources or bind addresses is always fine", () => {
    assert.deepEqual(verifySources(configFrom(""), {}), { ok: true });
  });

  test("everything assigned: ok", () => {
    const full: Interfaces = {
      ...host,
      eth1: [
        iface("198.51.100.5", "198.51.100.5/24"),
        iface("198.51.100.77", "198.51.100.77/24"),
        iface("203.0.113.9", "203.0.113.9/24"),
        iface("192.0.2.200", "192.0.2.200/24"),
      ],
      eth0: [...(host.eth0 ?? []), iface("2001:db8::99", "2001:db8::99/64")],
    };
    assert.deepEqual(verifySources(config, full), { ok: true });
  });
});
