/**
 * The trace header we prepend to every message we accept (RFC 5321 4.4, RFC 5322 3.6.7):
 *
 *   Received: from client.example (unknown [192.0.2.1])
 *   	by mx.example (mailfleet) with ESMTPS
 *   	for <user@example.com>; Tue, 3 Jun 2025 10:00:00 +0000
 *
 * "unknown" is the reverse-DNS name slot: the listener does no DNS lookups. The `id` clause is
 * left out because the queue id is only known once the spool has stored the message. `for` is
 * only given with exactly one recipient, so a Bcc list never leaks into the headers.
 * Every value that came from the client is cleaned so it cannot break the header's syntax.
 */
import { isIP } from "node:net";

export interface ReceivedInfo {
  /** HELO/EHLO argument as the client gave it; "" when none. */
  clientHelo: string;
  /** Plain IP address of the client (IPv4-mapped addresses already unwrapped). */
  clientAddress: string;
  /** Our hostname. */
  hostname: string;
  /** RFC 3848 / RFC 6531 protocol name, see `protocolName`. */
  protocol: string;
  recipients: readonly string[];
  date: Date;
}

export interface ProtocolFacts {
  ehlo: boolean;
  tls: boolean;
  authenticated: boolean;
  smtpUtf8: boolean;
}

/** SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA (RFC 3848), or UTF8SMTP[S][A] (RFC 6531 3.7.3). */
export function protocolName(facts: ProtocolFacts): string {
  const base = facts.smtpUtf8 ? "UTF8SMTP" : facts.ehlo ? "ESMTP" : "SMTP";
  return `${base}${facts.tls ? "S" : ""}${facts.authenticated ? "A" : ""}`;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 3.3 date-time in UTC, e.g. "Tue, 3 Jun 2025 10:00:00 +0000". */
export function formatRfc5322Date(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const time = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
  return `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${time} +0000`;
}

/** Keeps visible ASCII (and UTF-8 text); control characters, spaces and comment delimiters become "?". */
function clean(value: string, extraForbidden: RegExp): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  return value.replace(/[\u0000-\u0020\u007f]/g, "?").replace(extraForbidden, "?");
}

/** TCP-info address literal: [192.0.2.1] or [IPv6:2001:db8::1] (RFC 5321 4.1.3). */
function addressLiteral(address: string): string {
  return isIP(address) === 6 ? `[IPv6:${address}]` : `[${clean(address, /[[\]]/g)}]`;
}

/** The complete header field, folded, ending with CRLF. */
export function formatReceivedHeader(info: ReceivedInfo): string {
  const helo = info.clientHelo === "" ? "unknown" : clean(info.clientHelo, /[()\\]/g);
  const lines = [
    `Received: from ${helo} (unknown ${addressLiteral(info.clientAddress)})`,
    `\tby ${clean(info.hostname, /[()\\]/g)} (mailfleet) with ${info.protocol}`,
  ];
  const only = info.recipients.length === 1 ? info.recipients[0] : undefined;
  if (only !== undefined) lines.push(`\tfor <${clean(only, /[<>]/g)}>`);
  const last = lines.length - 1;
  lines[last] = `${lines[last]}; ${formatRfc5322Date(info.date)}`;
  return `${lines.join("\r\n")}\r\n`;
}
