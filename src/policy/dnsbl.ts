/**
 * DNS blocklist check of the client IP (issue #5). The query name is the address reversed (IPv4
 * octets, IPv6 nibbles) under each configured zone; an A record in 127.0.0.0/8 means listed, and
 * the zone's TXT record, when there is one, says why. Answers in 127.255.255.0/24 are the
 * blocklist's own error codes (e.g. "query refused"), not listings.
 *
 * All zones are asked at once; the first listing zone in config order decides the reply. A
 * failed lookup counts as not listed (fail open) and is logged: a broken blocklist must not stop
 * all mail.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { Logger } from "pino";
import type { Reply } from "../message/types.ts";
import type { PolicyResolver } from "./dns.ts";
import { expandIPv6, plainIp } from "./ip.ts";

export interface DnsblListing {
  zone: string;
  /** The A record, e.g. 127.0.0.2. */
  code: string;
  /** The TXT record, if any (printable ASCII only, shortened). */
  reason: string | null;
}

export interface DnsblCheck {
  /** The first zone (in config order) listing `address`, or null. */
  lookup(address: string): Promise<DnsblListing | null>;
}

/** The name to query for `address` in `zone`, or null for something that is not an IP. */
export function dnsblQueryName(address: string, zone: string): string | null {
  const plain = plainIp(address);
  if (isIPv4(plain)) return `${plain.split(".").reverse().join(".")}.${zone}`;
  if (!isIPv6(plain)) return null;
  const nibbles = expandIPv6(plain)
    .map((group) => group.padStart(4, "0"))
    .join("")
    .split("");
  return `${nibbles.reverse().join(".")}.${zone}`;
}

/** `554 5.7.1 Service unavailable; client [ip] blocked using ZONE[; reason]`. */
export function dnsblReply(address: string, listing: DnsblListing): Reply {
  const reason = listing.reason ? `; ${listing.reason}` : "";
  return {
    code: 554,
    enhanced: "5.7.1",
    text: `Service unavailable; client [${address}] blocked using ${listing.zone}${reason}`,
  };
}

const LISTED = /^127\.\d+\.\d+\.\d+$/;
const ERROR_CODE = /^127\.255\.255\.\d+$/;

function cleanReason(records: unknown[]): string | null {
  const first = records[0];
  const text = Array.isArray(first) ? first.join("") : typeof first === "string" ? first : "";
  const printable = text.replace(/[^\x20-\x7e]/g, "").trim();
  return printable === "" ? null : printable.slice(0, 200);
}

export function createDnsblCheck(deps: {
  zones: string[];
  resolve: PolicyResolver;
  logger: Logger;
}): DnsblCheck {
  const { zones, resolve, logger } = deps;

  async function query(address: string, zone: string): Promise<DnsblListing | null> {
    const name = dnsblQueryName(address, zone);
    if (name === null) return null;
    let records: string[];
    try {
      records = (await resolve(name, "A")) as string[];
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ENOTFOUND" || code === "ENODATA") return null;
      logger.warn({ zone, client: address, err }, "DNSBL lookup failed: treating the client as not listed");
      return null;
    }
    const errors = records.filter((r) => ERROR_CODE.test(r));
    if (errors.length > 0) {
      logger.warn({ zone, client: address, answer: errors }, "DNSBL answered an error code: not a listing");
    }
    const code = records.find((r) => LISTED.test(r) && !ERROR_CODE.test(r));
    if (code === undefined) return null;
    let reason: string | null = null;
    try {
      reason = cleanReason(await resolve(name, "TXT"));
    } catch {
      // The listing stands without a reason.
    }
    return { zone, code, reason };
  }

  return {
    async lookup(address) {
      const results = await Promise.all(zones.map((zone) => query(address, zone)));
      return results.find((r) => r !== null) ?? null;
    },
  };
}
