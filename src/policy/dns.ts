/**
 * The DNS resolver of the policy checks: node's c-ares `Resolver` on the configured servers
 * (config.dns, "host:port" honoured, so tests serve their own SPF/DKIM/DMARC and DNSBL records),
 * exposed as the `resolve(name, rrtype)` function mailauth takes, with dns.promises semantics.
 */
import { promises as dns } from "node:dns";
import type { Config } from "../config/types.ts";

/** dns.promises.resolve's shape: TXT gives string[][], A/AAAA string[], MX objects, ... */
export type PolicyResolver = (name: string, rrtype: string) => Promise<unknown[]>;

export function createPolicyResolver(config: Config["dns"]): PolicyResolver {
  const resolver = new dns.Resolver({ timeout: config.timeoutMs, tries: config.tries });
  if (config.servers.length > 0) {
    resolver.setServers(
      config.servers.map((s) => (s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)),
    );
  }
  return (name, rrtype) => resolver.resolve(name, rrtype) as Promise<unknown[]>;
}
