/**
 * Parsers for the small value languages of the config file: durations ("30s"), sizes ("25MiB"),
 * "host:port" addresses, CIDRs and transport nexthops ("mx", "[host]:port", "host", "lmtp:...").
 *
 * Each parser takes an unknown YAML value and returns the normalised value, or undefined when the
 * input is not in the language. The schema turns undefined into an error that quotes `EXPECTED`,
 * so the wording of what we accept lives next to the code that accepts it.
 */

import { BlockList, isIP } from "node:net";

import type { HostPort, Nexthop } from "./types.ts";

export const EXPECTED = {
  duration: "a duration such as 500ms, 30s, 5m, 2h, 5d, 1w (a plain number is seconds)",
  size: "a size such as 512KiB, 25MiB, 1GB (a plain number is bytes)",
  hostname: "a host name such as mail.example.com",
  ip: "an IP address",
  cidr: "a network in CIDR form such as 10.0.0.0/8 or 2001:db8::/32",
  email: "an address such as MAILER-DAEMON@example.com",
  path: "a non-empty path",
  listen: 'an address "host:port", IPv6 as "[::1]:port"',
  dnsServer: 'a DNS server "ip" or "ip:port", IPv6 as "[::1]:port"',
  nexthop:
    '"mx", "[host]:port" (no MX lookup), "host:port" / "host" (MX lookup on host), or LMTP: "lmtp:[host]:port" / "lmtp:host" (port 24) / "lmtp:unix:/absolute/path"',
} as const;

const DURATION_UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const SIZE_UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Number = seconds; string = number + unit (ms, s, m, h, d, w). Returns milliseconds. */
export function parseDuration(input: unknown): number | undefined {
  if (typeof input === "number") {
    return Number.isFinite(input) && input >= 0 ? Math.round(input * 1000) : undefined;
  }
  if (typeof input !== "string") return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/.exec(input.trim());
  const unit = match?.[2] === undefined ? undefined : DURATION_UNIT_MS[match[2]];
  if (match?.[1] === undefined || unit === undefined) return undefined;
  return Math.round(Number(match[1]) * unit);
}

/** Number = bytes; string = number + unit (B, KB, KiB, MB, MiB, GB, GiB; any case). Returns bytes. */
export function parseSize(input: unknown): number | undefined {
  if (typeof input === "number") {
    return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  }
  if (typeof input !== "string") return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(input.trim());
  const unit = match?.[2] === undefined ? undefined : SIZE_UNIT_BYTES[match[2].toLowerCase()];
  if (match?.[1] === undefined || unit === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

const HOSTNAME_RE =
  /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function isHostname(input: unknown): input is string {
  return typeof input === "string" && HOSTNAME_RE.test(input);
}

export function isIpLiteral(input: unknown): input is string {
  return typeof input === "string" && isIP(input) !== 0;
}

function parsePort(text: string, minPort: number): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= minPort && port <= 65535 ? port : undefined;
}

export interface HostPortRules {
  /** Port used when the text has none; without it a port is required. */
  defaultPort?: number;
  /** Lowest port accepted: 0 lets listeners ask the OS for an ephemeral port. */
  minPort: number;
  /** Require the host to be an IP literal (resolver addresses). */
  ipOnly?: boolean;
}

interface SplitHostPort {
  host: string;
  port: string | undefined;
  bracketed: boolean;
}

/** Splits "[host]:port", "[host]", "host:port", "host" and a bare IPv6 literal. */
function splitHostPort(text: string): SplitHostPort | undefined {
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) return { host: bracketed[1] ?? "", port: bracketed[2], bracketed: true };
  if (text.startsWith("[")) return undefined;
  if (isIP(text) === 6) return { host: text, port: undefined, bracketed: false };
  const colon = text.lastIndexOf(":");
  if (colon === -1) return { host: text, port: undefined, bracketed: false };
  return { host: text.slice(0, colon), port: text.slice(colon + 1), bracketed: false };
}

export function parseHostPort(input: unknown, rules: HostPortRules): HostPort | undefined {
  if (typeof input !== "string") return undefined;
  const split = splitHostPort(input.trim());
  if (!split) return undefined;
  const hostOk = rules.ipOnly ? isIpLiteral(split.host) : isIpLiteral(split.host) || isHostname(split.host);
  if (!hostOk) return undefined;
  const port = split.port === undefined ? rules.defaultPort : parsePort(split.port, rules.minPort);
  if (port === undefined) return undefined;
  return { host: split.host, port };
}

/** "10.0.0.0/8", or a bare address taken as a single host (/32 or /128). Returns "addr/prefix". */
export function parseCidr(input: unknown): string | undefined {
  if (typeof input !== "string") return undefined;
  const [address = "", prefixText, extra] = input.trim().split("/");
  if (extra !== undefined) return undefined;
  const family = isIP(address);
  if (family === 0) return undefined;
  const maxPrefix = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (prefix > maxPrefix) return undefined;
  try {
    new BlockList().addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
  } catch {
    return undefined;
  }
  return `${address}/${prefix}`;
}

/** A nexthop before the transport's `port` fills in a missing port. */
export type NexthopSpec =
  | { kind: "mx" }
  | { kind: "host"; host: string; port: number | undefined; lookupMx: boolean }
  | { kind: "lmtp"; host: string; port: number; socketPath: null }
  | { kind: "lmtp"; host: null; port: null; socketPath: string };

/** The LMTP port (RFC 2033 names none; 24 is IANA's, and Postfix's lmtp default). */
export const LMTP_PORT = 24;

/**
 * "mx": MX lookup on the recipient domain. "[host]:port" or "[host]": that host, no MX lookup.
 * "host:port" or "host": MX lookup on host (an IP literal is never MX-looked-up).
 * "lmtp:[host]:port", "lmtp:host:port" or "lmtp:host": LMTP to that host (never an MX lookup),
 * port 24 by default. "lmtp:unix:/path": LMTP over a Unix socket (an absolute path).
 */
export function parseNexthop(input: unknown): NexthopSpec | undefined {
  if (input === "mx") return { kind: "mx" };
  if (typeof input !== "string") return undefined;
  if (input.startsWith("lmtp:")) return parseLmtpNexthop(input.slice("lmtp:".length).trim());
  const split = splitHostPort(input.trim());
  if (!split) return undefined;
  if (!isIpLiteral(split.host) && !isHostname(split.host)) return undefined;
  let port: number | undefined;
  if (split.port !== undefined) {
    port = parsePort(split.port, 1);
    if (port === undefined) return undefined;
  }
  const lookupMx = !split.bracketed && !isIpLiteral(split.host);
  return { kind: "host", host: split.host, port, lookupMx };
}

function parseLmtpNexthop(rest: string): NexthopSpec | undefined {
  if (rest.startsWith("unix:")) {
    const socketPath = rest.slice("unix:".length);
    return socketPath.startsWith("/") && !/[\0\s]/.test(socketPath)
      ? { kind: "lmtp", host: null, port: null, socketPath }
      : undefined;
  }
  const split = splitHostPort(rest);
  if (!split || (!isIpLiteral(split.host) && !isHostname(split.host))) return undefined;
  const port = split.port === undefined ? LMTP_PORT : parsePort(split.port, 1);
  return port === undefined ? undefined : { kind: "lmtp", host: split.host, port, socketPath: null };
}

/** A nexthop as the config file writes it, port included. */
export function nexthopName(nexthop: Nexthop): string {
  switch (nexthop.kind) {
    case "mx":
      return "mx";
    case "host":
      return nexthop.lookupMx ? `${nexthop.host}:${nexthop.port}` : `[${nexthop.host}]:${nexthop.port}`;
    case "lmtp":
      return nexthop.socketPath !== null
        ? `lmtp:unix:${nexthop.socketPath}`
        : `lmtp:[${nexthop.host}]:${nexthop.port}`;
  }
}

export function isEmailAddress(input: unknown): input is string {
  return typeof input === "string" && /^[^\s@<>]+@[^\s@<>]+$/.test(input);
}
