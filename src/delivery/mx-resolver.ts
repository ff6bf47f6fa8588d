/**
 * Where does a domain's mail go? Turns a recipient domain plus a transport into a destination
 * Site (the ordered MX hosts with their addresses) or a failure described as data: Null MX and
 * NXDOMAIN bounce, DNS trouble defers, private addresses are refused unless allowed. Domains
 * that share an MX set share a site key, so they share connection limits downstream.
 */
import net from "node:net";
import type { Logger } from "pino";
import type { TransportConfig } from "../config/types.ts";
import { nexthopName } from "../config/values.ts";
import type { FailureScope, Reply } from "../message/types.ts";
import type { DnsLookups, DnsResult, MxRecord } from "./dns-resolver.ts";
import type { DestinationResolver, MxHost, Resolution } from "./types.ts";

export interface DestinationResolverDeps {
  dns: DnsLookups;
  allowPrivateDestinations: boolean;
  logger: Logger;
  /** Longest time an answer is reused, ms (default 300 s); 0 disables the cache. */
  cacheMaxMs?: number;
  now?: () => number;
}

/** Used for MX answers, whose TTL node's API does not expose. */
const DEFAULT_TTL_S = 60;
const MAX_CACHE_ENTRIES = 10_000;

/** Loopback, private, link-local, CGNAT, unique-local and unspecified space. */
export function createPrivateAddressList(): net.BlockList {
  const list = new net.BlockList();
  for (const [prefix, bits] of [
    ["0.0.0.0", 8],
    ["10.0.0.0", 8],
    ["100.64.0.0", 10],
    ["127.0.0.0", 8],
    ["169.254.0.0", 16],
    ["172.16.0.0", 12],
    ["192.168.0.0", 16],
  ] as const) {
    list.addSubnet(prefix, bits, "ipv4");
  }
  list.addAddress("::", "ipv6");
  list.addAddress("::1", "ipv6");
  list.addSubnet("fc00::", 7, "ipv6");
  list.addSubnet("fe80::", 10, "ipv6");
  return list;
}

export function isPrivateAddress(list: net.BlockList, address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return list.check(mapped[1], "ipv4");
  return list.check(address, net.isIPv6(address) ? "ipv6" : "ipv4");
}

function failure(permanent: boolean, code: number, enhanced: string, text: string, scope: FailureScope) {
  const reply: Reply = { code, enhanced, text };
  return { kind: "failure", permanent, reply, scope } satisfies Resolution;
}

function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

interface HostLookup {
  addresses: string[];
  ttl: number | null;
  /** True when a lookup failed for a reason that may pass (SERVFAIL, timeout). */
  temporary: boolean;
}

export function createDestinationResolver(deps: DestinationResolverDeps): DestinationResolver {
  const { dns, logger } = deps;
  const now = deps.now ?? Date.now;
  const cacheMaxMs = deps.cacheMaxMs ?? 300_000;
  const cache = new Map<string, { expires: number; resolution: Resolution }>();
  /** Raw MX answers, shared by site resolution and MX-matching routes (one query per domain). */
  const mxCache = new Map<string, { expires: number; answer: DnsResult<MxRecord> }>();
  const privateList = createPrivateAddressList();

  async function mxAnswer(domain: string): Promise<DnsResult<MxRecord>> {
    const cached = mxCache.get(domain);
    if (cached && cached.expires > now()) return cached.answer;
    const answer = await dns.mx(domain);
    const lifetime = Math.min(DEFAULT_TTL_S * 1000, cacheMaxMs);
    if (lifetime > 0 && (answer.ok || answer.failure !== "temporary")) {
      if (mxCache.size >= MAX_CACHE_ENTRIES) sweep(mxCache, now());
      mxCache.set(domain, { expires: now() + lifetime, answer });
    } else {
      mxCache.delete(domain);
    }
    return answer;
  }

  async function addressesOf(name: string): Promise<HostLookup> {
    if (net.isIP(name)) return { addresses: [name], ttl: null, temporary: false };
    const [v4, v6] = await Promise.all([dns.ipv4(name), dns.ipv6(name)]);
    const results: DnsResult<string>[] = [v4, v6];
    const addresses = results.flatMap((r) => (r.ok ? r.records : []));
    const ttls = results.flatMap((r) => (r.ok && r.ttl !== null ? [r.ttl] : []));
    const temporary = results.some((r) => !r.ok && r.failure === "temporary");
    return { addresses, ttl: ttls.length ? Math.min(...ttls) : null, temporary };
  }

  /** Looks up each host's addresses, drops private ones, and builds the resolution. */
  async function buildSite(
    transport: TransportConfig,
    key: string,
    candidates: { name: string; preference: number }[],
    what: string,
    checkPrivate = !deps.allowPrivateDestinations,
  ): Promise<{ resolution: Resolution; ttl: number | null }> {
    const lookups = await Promise.all(candidates.map((c) => addressesOf(c.name)));
    const hosts: MxHost[] = [];
    const refused: string[] = [];
    let anyTemporary = false;
    let ttl: number | null = null;
    candidates.forEach((candidate, i) => {
      const lookup = lookups[i]!;
      anyTemporary ||= lookup.temporary;
      if (lookup.ttl !== null) ttl = ttl === null ? lookup.ttl : Math.min(ttl, lookup.ttl);
      const allowed = !checkPrivate
        ? lookup.addresses
        : lookup.addresses.filter((a) => {
            const isPrivate = isPrivateAddress(privateList, a);
            if (isPrivate) refused.push(`${candidate.name}[${a}]`);
            return !isPrivate;
          });
      if (allowed.length > 0) hosts.push({ ...candidate, addresses: allowed });
    });
    if (hosts.length > 0) {
      return { resolution: { kind: "site", site: { key, transport, hosts, port: portOf(transport) } }, ttl };
    }
    if (refused.length > 0 && !anyTemporary) {
      const text = `refusing to deliver to private address ${refused.join(", ")} for ${what}`;
      return { resolution: failure(true, 550, "5.4.4", text, "destination"), ttl };
    }
    const names = candidates.map((c) => c.name).join(", ");
    const text = anyTemporary
      ? `Host or domain name lookup failed for ${what} (${names})`
      : `no address found for ${what} (${names})`;
    return {
      resolution: failure(false, 451, anyTemporary ? "4.4.3" : "4.4.4", text, "destination"),
      ttl: null,
    };
  }

  async function resolveMx(
    domain: string,
    transport: TransportConfig,
  ): Promise<{ resolution: Resolution; ttl: number | null }> {
    const mx = await mxAnswer(domain);
    if (!mx.ok) {
      if (mx.failure === "nonexistent") {
        const text = `Host or domain name not found: ${domain} does not exist (${mx.code})`;
        return { resolution: failure(true, 550, "5.1.2", text, "recipient"), ttl: DEFAULT_TTL_S };
      }
      if (mx.failure === "temporary") {
        const text = `Host or domain name lookup failed for ${domain}: ${mx.code}`;
        return { resolution: failure(false, 451, "4.4.3", text, "destination"), ttl: null };
      }
      // No MX records: the domain itself is the implicit MX (RFC 5321 5.1).
      const key = `${transport.name}|${domain}`;
      return buildSite(transport, key, [{ name: domain, preference: 0 }], domain);
    }
    const all = mx.records.map((r) => ({ name: normaliseName(r.exchange), preference: r.preference }));
    // An empty exchange among real ones is just a broken record; ignore it.
    const records = all.filter((r) => r.name !== "");
    if (records.length === 0) {
      // RFC 7505: a Null MX says the domain accepts no mail at all.
      const text = `Domain ${domain} does not accept mail (null MX)`;
      return { resolution: failure(true, 556, "5.1.10", text, "recipient"), ttl: DEFAULT_TTL_S };
    }
    records.sort((a, b) => a.preference - b.preference || a.name.localeCompare(b.name));
    const unique = records.filter((r, i) => records.findIndex((o) => o.name === r.name) === i);
    const key = `${transport.name}|${[...new Set(unique.map((r) => r.name))].sort().join(",")}`;
    const built = await buildSite(transport, key, unique, domain);
    const temporary = built.resolution.kind === "failure" && !built.resolution.permanent;
    return {
      resolution: built.resolution,
      ttl: temporary ? null : Math.min(built.ttl ?? DEFAULT_TTL_S, DEFAULT_TTL_S),
    };
  }

  async function resolveUncached(
    domain: string,
    transport: TransportConfig,
  ): Promise<{ resolution: Resolution; ttl: number | null }> {
    const nexthop = transport.nexthop;
    if (nexthop.kind === "mx") return resolveMx(domain, transport);
    if (nexthop.kind === "lmtp") {
      const what = nexthopName(nexthop);
      const key = `${transport.name}|${what}`;
      if (nexthop.socketPath !== null) {
        // A Unix socket: nothing to look up. The path stands where an address would.
        const hosts = [{ name: what, preference: 0, addresses: [nexthop.socketPath] }];
        return { resolution: { kind: "site", site: { key, transport, hosts, port: 0 } }, ttl: DEFAULT_TTL_S };
      }
      // A mail store the operator named (usually on a private network): never refused as private.
      return buildSite(transport, key, [{ name: normaliseName(nexthop.host), preference: 0 }], what, false);
    }
    const host = normaliseName(nexthop.host);
    if (nexthop.lookupMx) return resolveMx(host, transport);
    const what = `[${host}]:${nexthop.port}`;
    const key = `${transport.name}|${what}`;
    // An IP literal the operator wrote (e.g. relay_to another instance on loopback) is trusted;
    // the private-address guard is for addresses that come from someone else's DNS.
    const checkPrivate = !deps.allowPrivateDestinations && net.isIP(host) === 0;
    return buildSite(transport, key, [{ name: host, preference: 0 }], what, checkPrivate);
  }

  return {
    async mxHostNames(rawDomain) {
      const domain = normaliseName(rawDomain);
      const mx = await mxAnswer(domain);
      if (!mx.ok) {
        if (mx.failure === "temporary") return null;
        // No MX records: the domain is its own (implicit) MX; NXDOMAIN: no host at all.
        return mx.failure === "nodata" ? [domain] : [];
      }
      const records = [...mx.records].sort((a, b) => a.preference - b.preference);
      return [...new Set(records.map((r) => normaliseName(r.exchange)).filter((n) => n !== ""))];
    },

    async resolve(rawDomain, transport) {
      const domain = normaliseName(rawDomain);
      // The nexthop is part of the key: a reload that points a transport elsewhere must not reuse
      // the old answer.
      const cacheKey = `${transport.name}|${nexthopName(transport.nexthop)}|${domain}`;
      const cached = cache.get(cacheKey);
      if (cached && cached.expires > now() && cached.resolution.kind === "site") {
        // The site carries the transport it was resolved for; hand back the current one.
        return { kind: "site", site: { ...cached.resolution.site, transport } };
      }
      if (cached && cached.expires > now()) return cached.resolution;
      const { resolution, ttl } = await resolveUncached(domain, transport);
      if (resolution.kind === "failure") {
        logger.debug(
          { domain, transport: transport.name, reply: resolution.reply },
          "destination resolution failed",
        );
      }
      const lifetime = Math.min((ttl ?? 0) * 1000, cacheMaxMs);
      if (lifetime > 0) {
        if (cache.size >= MAX_CACHE_ENTRIES) sweep(cache, now());
        cache.set(cacheKey, { expires: now() + lifetime, resolution });
      } else {
        cache.delete(cacheKey);
      }
      return resolution;
    },
  };
}

/** Drops expired entries, and the oldest half if that was not enough. */
function sweep(cache: Map<string, { expires: number }>, at: number): void {
  for (const [key, entry] of cache) if (entry.expires <= at) cache.delete(key);
  if (cache.size < MAX_CACHE_ENTRIES) return;
  let drop = Math.floor(cache.size / 2);
  for (const key of cache.keys()) {
    if (drop-- <= 0) break;
    cache.delete(key);
  }
}

function portOf(transport: TransportConfig): number {
  return transport.nexthop.port ?? 0;
}
