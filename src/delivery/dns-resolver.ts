/**
 * DNS lookups for delivery, with failures returned as data. Wraps node's c-ares based
 * `dns.promises.Resolver` (configured servers, timeout and tries from config.dns) and sorts its
 * error codes into the three cases delivery cares about: the name does not exist, the name has
 * no records of that type, or the answer could not be had right now.
 */
import { promises as dns } from "node:dns";
import type { Config } from "../config/types.ts";

/** nonexistent: NXDOMAIN. nodata: the name exists without records of that type. */
export type DnsFailureKind = "nonexistent" | "nodata" | "temporary";

export type DnsResult<T> =
  | {
      ok: true;
      records: T[] /** Smallest TTL in seconds, or null when the API gives none. */;
      ttl: number | null;
    }
  | { ok: false; failure: DnsFailureKind; code: string; message: string };

export interface MxRecord {
  exchange: string;
  preference: number;
}

export interface DnsLookups {
  mx(name: string): Promise<DnsResult<MxRecord>>;
  ipv4(name: string): Promise<DnsResult<string>>;
  ipv6(name: string): Promise<DnsResult<string>>;
}

const NONEXISTENT = new Set(["ENOTFOUND", "NXDOMAIN"]);
const NODATA = new Set(["ENODATA"]);

/** Sorts a c-ares error code into a failure kind; anything unknown counts as temporary. */
export function classifyDnsError(code: string | undefined): DnsFailureKind {
  if (code && NONEXISTENT.has(code)) return "nonexistent";
  if (code && NODATA.has(code)) return "nodata";
  return "temporary";
}

function failure<T>(err: unknown): DnsResult<T> {
  const e = err as { code?: string; message?: string };
  const code = e.code ?? "EUNKNOWN";
  return { ok: false, failure: classifyDnsError(code), code, message: e.message ?? String(err) };
}

function minTtl(ttls: number[]): number | null {
  return ttls.length === 0 ? null : Math.min(...ttls);
}

/** Builds the lookups from config.dns; an empty server list keeps the system's resolvers. */
export function createDnsResolver(config: Config["dns"]): DnsLookups {
  const resolver = new dns.Resolver({ timeout: config.timeoutMs, tries: config.tries });
  if (config.servers.length > 0) {
    resolver.setServers(
      config.servers.map((s) => (s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)),
    );
  }
  return {
    async mx(name) {
      try {
        const records = await resolver.resolveMx(name);
        // node's API gives no TTL for MX answers.
        return {
          ok: true,
          records: records.map((r) => ({ exchange: r.exchange, preference: r.priority })),
          ttl: null,
        };
      } catch (err) {
        return failure(err);
      }
    },
    async ipv4(name) {
      try {
        const records = await resolver.resolve4(name, { ttl: true });
        return { ok: true, records: records.map((r) => r.address), ttl: minTtl(records.map((r) => r.ttl)) };
      } catch (err) {
        return failure(err);
      }
    },
    async ipv6(name) {
      try {
        const records = await resolver.resolve6(name, { ttl: true });
        return { ok: true, records: records.map((r) => r.address), ttl: minTtl(records.map((r) => r.ttl)) };
      } catch (err) {
        return failure(err);
      }
    },
  };
}
