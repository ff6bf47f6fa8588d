/**
 * How an SMTP reply is written where people and parsers read it: DSN Diagnostic-Code fields,
 * the DSN's human-readable part, delivery log lines. One place, so the log and the bounce a
 * sender receives quote a remote server the same way.
 */
import type { Reply } from "../message/types.ts";

/** "550 5.1.1 User unknown": code, enhanced status when known, text; one line, printable ASCII. */
export function formatReply(reply: Reply): string {
  const parts = [String(reply.code)];
  if (reply.enhanced !== null) parts.push(reply.enhanced);
  const text = toAsciiLine(reply.text);
  if (text !== "") parts.push(text);
  return parts.join(" ");
}

/** The reply's enhanced status, or the class-level one its basic code implies (RFC 3463). */
export function statusOf(reply: Reply): string {
  if (reply.enhanced !== null) return reply.enhanced;
  const kind = Math.floor(reply.code / 100);
  return kind === 2 || kind === 4 || kind === 5 ? `${kind}.0.0` : "4.0.0";
}

/**
 * Folds a multi-line reply into one line and replaces anything outside printable ASCII with
 * "?", so the result is safe inside a header field, a 7bit MIME part or a log line.
 */
export function toAsciiLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join(" ")
    .replace(/\t/g, " ")
    .replace(/[^\x20-\x7e]/g, "?");
}
