/**
 * Who may relay through this listener, and to where.
 *
 * - Clients inside `relay.trusted_networks` and clients that authenticated (SMTP AUTH) may send
 *   to any domain: they are our own applications, users and instances.
 * - Everyone else (the internet, for an input instance) may only send to `relay.local_domains`
 *   (e.g. the bounce and feedback-loop domains the input instance receives for), and only with a
 *   plain `local-part@domain`: the old relay tricks that make a lax MTA forward mail to a foreign
 *   host are refused even when the domain is local (Postfix's allow_untrusted_routing = no):
 *   the percent hack `u%foreign@local`, bang paths `foreign!u@local`, source routes
 *   `@a:u@local`, quoted local parts holding `@`, `%` or `!`, `u@d@[ip]`, and address literals
 *   `u@[ip]`. (smtp-server itself refuses paths with two unquoted `@` as a syntax error.)
 *
 * Addresses arrive from a dual-stack socket as IPv4-mapped IPv6 (`::ffff:127.0.0.1`); we
 * unwrap those so an IPv4 network matches them and logs show the plain IPv4 address.
 */
import { BlockList, isIP } from "node:net";

export interface RelayAccess {
  isTrusted(address: string): boolean;
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** `::ffff:192.0.2.1` -> `192.0.2.1`; anything else unchanged. */
export function plainAddress(address: string): string {
  const mapped = MAPPED_IPV4.exec(address);
  return mapped ? mapped[1]! : address;
}

/** Client addresses whose answer is remembered; the memo starts over when it is full. */
const RECENT_CLIENTS = 4096;

/** Throws on a malformed network: that is a start-up configuration error. */
export function createRelayAccess(trustedNetworks: readonly string[]): RelayAccess {
  const trusted = new BlockList();
  for (const network of trustedNetworks) {
    const [rawAddress = "", prefixText, ...extra] = network.trim().split("/");
    const address = plainAddress(rawAddress);
    const family = isIP(address);
    if (family === 0 || extra.length > 0) {
      throw new Error(`relay.trusted_networks: "${network}" is not an address or CIDR network`);
    }
    const maxPrefix = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText ?? "0") || prefix > maxPrefix) {
      throw new Error(`relay.trusted_networks: "${network}" has a bad prefix length`);
    }
    trusted.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
  }
  // A session asks several times (greeting, connection cap, each RCPT), and the same clients
  // come back: remember recent answers instead of building a SocketAddress each time.
  const recent = new Map<string, boolean>();
  return {
    isTrusted(address: string): boolean {
      const known = recent.get(address);
      if (known !== undefined) return known;
      const plain = plainAddress(address);
      const family = isIP(plain);
      const answer = family !== 0 && trusted.check(plain, family === 4 ? "ipv4" : "ipv6");
      if (recent.size >= RECENT_CLIENTS) recent.clear();
      recent.set(address, answer);
      return answer;
    },
  };
}

/** What the RCPT check knows about one recipient. */
export interface RecipientCheck {
  /** The client is in a trusted network. */
  trusted: boolean;
  /** The client authenticated with AUTH. */
  authenticated: boolean;
  /** The address smtp-server parsed (source route already stripped). */
  address: string;
  /** The path as the client wrote it, e.g. "<@a:u@b>"; the address in <> when unknown. */
  rawPath: string;
  /** relay.local_domains: exact lower-case domains, or ".example.com" for subdomains. */
  localDomains: readonly string[];
}

/** Why a recipient is refused, or null when it may be accepted. */
export type RelayRefusal = "not a local domain" | "routing in address" | null;

/** Characters that route mail onward when they appear in a local part (RFC 1123 5.2.16, UUCP). */
const ROUTING_CHARS = /[%!@:]/;

export function isLocalDomain(domain: string, localDomains: readonly string[]): boolean {
  const d = domain.toLowerCase().replace(/\.$/, "");
  return localDomains.some((entry) => (entry.startsWith(".") ? d.endsWith(entry) : d === entry));
}

export function relayRefusal(check: RecipientCheck): RelayRefusal {
  if (check.trusted || check.authenticated) return null;
  const path = check.rawPath.replace(/^<|>$/g, "");
  if (path.startsWith("@")) return "routing in address"; // a source route @a,@b:u@c
  const at = check.address.lastIndexOf("@");
  if (at <= 0) return "not a local domain"; // "postmaster" without a domain
  const local = check.address.slice(0, at);
  const domain = check.address.slice(at + 1);
  if (ROUTING_CHARS.test(local)) return "routing in address";
  if (domain.startsWith("[")) return "routing in address"; // an address literal names a host
  return isLocalDomain(domain, check.localDomains) ? null : "not a local domain";
}
