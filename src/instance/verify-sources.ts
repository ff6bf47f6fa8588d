/**
 * Start-up check that every address mail may leave from is assigned on this host: each
 * `sources.*.address` and each transport `bind_address`. Postfix fails silently (every
 * connection errors at bind time); mailfleet refuses to start and says how to add the address.
 *
 * Loopback space (127.0.0.0/8 and ::1) counts as assigned: Linux answers for the whole /8 on lo,
 * which the tests use for many source IPs. Pure apart from the default `os.networkInterfaces()`.
 */
import { BlockList, isIP } from "node:net";
import type { NetworkInterfaceInfo } from "node:os";
import { networkInterfaces } from "node:os";

import type { Config } from "../config/types.ts";

export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

export interface MissingSource {
  /** Source name, or "transports.<name>.bind_address" for a bind address that is no source. */
  name: string;
  address: string;
  /** Transports that send from it (through a pool or bind_address). */
  usedBy: string[];
}

export type VerifySourcesResult = { ok: true } | { ok: false; missing: MissingSource[]; message: string };

function familyOf(address: string): "ipv4" | "ipv6" {
  return isIP(address) === 6 ? "ipv6" : "ipv4";
}

/** Every configured sending address with its owner name and the transports using it. */
function wantedAddresses(config: Config): MissingSource[] {
  const wanted: MissingSource[] = [];
  for (const source of Object.values(config.sources)) {
    const usedBy = Object.values(config.transports)
      .filter((t) => t.pool !== null && config.pools[t.pool]?.members.some((m) => m.source === source.name))
      .map((t) => t.name);
    wanted.push({ name: source.name, address: source.address, usedBy });
  }
  for (const transport of Object.values(config.transports)) {
    if (transport.bindAddress === null) continue;
    const same = wanted.find((w) => sameAddress(w.address, transport.bindAddress as string));
    if (same) same.usedBy.push(transport.name);
    else
      wanted.push({
        name: `transports.${transport.name}.bind_address`,
        address: transport.bindAddress,
        usedBy: [transport.name],
      });
  }
  return wanted;
}

function sameAddress(a: string, b: string): boolean {
  const list = new BlockList();
  list.addAddress(a, familyOf(a));
  return isIP(b) !== 0 && list.check(b, familyOf(b));
}

/** The addresses assigned on this host, plus all of loopback. */
function assignedList(interfaces: Interfaces): BlockList {
  const list = new BlockList();
  list.addSubnet("127.0.0.0", 8, "ipv4");
  list.addAddress("::1", "ipv6");
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      const address = info.address.split("%")[0] ?? info.address;
      if (isIP(address) !== 0) list.addAddress(address, familyOf(address));
    }
  }
  return list;
}

/** The interface to suggest: one with a subnet holding the address, else the first external one. */
function suggestInterface(address: string, interfaces: Interfaces): string {
  const family = familyOf(address);
  const external: string[] = [];
  for (const [name, infos] of Object.entries(interfaces)) {
    for (const info of infos ?? []) {
      if (info.internal || familyOf(info.address) !== family || info.cidr === null) continue;
      external.push(name);
      const [network = "", prefix = ""] = info.cidr.split("/");
      const subnet = new BlockList();
      try {
        subnet.addSubnet(network, Number(prefix), family);
      } catch {
        continue;
      }
      if (subnet.check(address, family)) return name;
    }
  }
  return external[0] ?? Object.keys(interfaces).find((name) => name !== "lo") ?? "<interface>";
}

function describeMissing(missing: MissingSource, interfaces: Interfaces): string {
  const prefix = familyOf(missing.address) === "ipv6" ? 128 : 32;
  const users = missing.usedBy.length > 0 ? `; used by transport ${missing.usedBy.join(", ")}` : "";
  const command = `ip addr add ${missing.address}/${prefix} dev ${suggestInterface(missing.address, interfaces)}`;
  return `  ${missing.address} (${missing.name}${users}): add it with \`${command}\``;
}

export function verifySources(
  config: Config,
  interfaces: Interfaces = networkInterfaces(),
): VerifySourcesResult {
  const assigned = assignedList(interfaces);
  const missing = wantedAddresses(config).filter((w) => !assigned.check(w.address, familyOf(w.address)));
  if (missing.length === 0) return { ok: true };
  const message = [
    `${config.source}: source address${missing.length === 1 ? " is" : "es are"} not assigned on this host:`,
    ...missing.map((m) => describeMissing(m, interfaces)),
    "mailfleet cannot send from an address the host does not have; add it (and its PTR), or remove it from the config.",
  ].join("\n");
  return { ok: false, missing, message };
}
