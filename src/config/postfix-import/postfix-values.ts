/**
 * Postfix value syntaxes turned into mailfleet's: time values ("5d", "0.4s", a bare number in the
 * parameter's default unit), TLS security levels, "transport:nexthop" results and SMTP nexthops,
 * and listener addresses. Each returns undefined for input it does not understand, so the
 * converter can warn instead of guessing.
 */
import { isIP } from "node:net";

import { parseNexthop } from "../values.ts";

/** A Postfix time value as a mailfleet duration string ("6h", "0.4s"); undefined if malformed. */
export function postfixTime(value: string, defaultUnit: "s" | "d"): string | undefined {
  const match = /^(\d+(?:\.\d+)?)([smhdw]?)$/.exec(value.trim().toLowerCase());
  if (!match?.[1]) return undefined;
  return `${match[1]}${match[2] || defaultUnit}`;
}

/** Milliseconds of a duration string made by postfixTime, to compare two settings. */
export function durationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text);
  const unitMs: Record<string, number> = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 };
  return match?.[1] && match[2] ? Number(match[1]) * (unitMs[match[2]] ?? 0) : Number.NaN;
}

export type MailfleetTls = "none" | "opportunistic" | "required";

/**
 * smtp_tls_security_level -> mailfleet tls. `lost` names what the level asks for that mailfleet's
 * policy does not express (certificate or DANE checks), for a warning.
 */
export function postfixTlsLevel(level: string): { tls: MailfleetTls; lost: string | null } | undefined {
  switch (level.trim().toLowerCase()) {
    case "":
    case "none":
      return { tls: "none", lost: null };
    case "may":
      return { tls: "opportunistic", lost: null };
    case "encrypt":
      return { tls: "required", lost: null };
    case "dane":
      return { tls: "opportunistic", lost: "DANE TLSA checks" };
    case "dane-only":
    case "verify":
    case "secure":
    case "fingerprint":
      return { tls: "required", lost: "server certificate verification" };
    default:
      return undefined;
  }
}

/** A transport(5) result "transport:nexthop"; a value without ":" is a transport name only. */
export function splitTransportResult(value: string): { transport: string; nexthop: string } {
  const colon = value.indexOf(":");
  if (colon === -1) return { transport: value.trim(), nexthop: "" };
  return { transport: value.slice(0, colon).trim(), nexthop: value.slice(colon + 1).trim() };
}

const SERVICE_PORTS: Record<string, number> = {
  smtp: 25,
  submission: 587,
  smtps: 465,
  submissions: 465,
  lmtp: 24,
};

/**
 * An SMTP nexthop ("[host]:port", "[host]", "host:service", "host") as mailfleet's transport
 * nexthop string. Service names become port numbers. Undefined if mailfleet cannot express it.
 */
export function postfixNexthop(value: string): string | undefined {
  let text = value.trim();
  if (text.startsWith("inet:")) text = text.slice("inet:".length);
  const bracketed = /^\[([^\]]+)\](?::([A-Za-z0-9-]+))?$/.exec(text);
  let host: string;
  let port: string | undefined;
  if (bracketed?.[1]) {
    host = `[${bracketed[1]}]`;
    port = bracketed[2];
  } else {
    const colon = text.lastIndexOf(":");
    host = colon === -1 ? text : text.slice(0, colon);
    port = colon === -1 ? undefined : text.slice(colon + 1);
  }
  if (port !== undefined && !/^\d+$/.test(port)) {
    const known = SERVICE_PORTS[port.toLowerCase()];
    if (known === undefined) return undefined;
    port = String(known);
  }
  const out = port === undefined ? host : `${host}:${port}`;
  return parseNexthop(out) === undefined ? undefined : out;
}

/**
 * An lmtp(8) nexthop ("unix:private/dovecot-lmtp", "unix:/abs/path", "inet:host:port",
 * "[host]:port", "host") as mailfleet's "lmtp:..." nexthop. A relative socket path is under
 * Postfix's queue directory, as lmtp(8) reads it; the port defaults to 24. Undefined if mailfleet
 * cannot express it.
 */
export function postfixLmtpNexthop(value: string, queueDirectory: string): string | undefined {
  const text = value.trim();
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (path === "") return undefined;
    const out = `lmtp:unix:${path.startsWith("/") ? path : `${queueDirectory.replace(/\/$/, "")}/${path}`}`;
    return parseNexthop(out) === undefined ? undefined : out;
  }
  const host = postfixNexthop(text);
  if (host === undefined) return undefined;
  const withPort = /\]:\d+$|^[^[\]:]+:\d+$/.test(host) ? host : `${host}:${SERVICE_PORTS.lmtp}`;
  const bracketed = withPort.startsWith("[") ? withPort : `[${withPort.replace(/:(\d+)$/, "]:$1")}`;
  const out = `lmtp:${bracketed}`;
  return parseNexthop(out) === undefined ? undefined : out;
}

/** An inet_interfaces entry as a listen host ("0.0.0.0", "[::1]"); undefined if not an address. */
export function listenHost(value: string): string | undefined {
  const bare = value.replace(/^\[|\]$/g, "");
  if (value === "all") return "0.0.0.0";
  if (value === "loopback-only") return "127.0.0.1";
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family === 6) return `[${bare}]`;
  return undefined;
}

/** The port of an smtpd inet service name ("smtp", "2525", "127.0.0.1:10025"). */
export function inetServicePort(service: string): { host: string | null; port: number } | undefined {
  const colon = service.lastIndexOf(":");
  const host = colon === -1 ? null : service.slice(0, colon);
  const portText = colon === -1 ? service : service.slice(colon + 1);
  const port = /^\d+$/.test(portText) ? Number(portText) : SERVICE_PORTS[portText.toLowerCase()];
  if (port === undefined || port < 1 || port > 65535) return undefined;
  return { host, port };
}
