/**
 * Turns what an SMTP peer said (or how the connection failed) into an outcome class and a
 * failure scope, the way Postfix's smtp_trouble.c does: 4xx defers, 5xx bounces, and the stage
 * of the dialogue plus the enhanced status code decide who is to blame (the recipient, the
 * message, the destination site, or our source IP). Pure functions, no I/O.
 */
import type { FailureScope, Reply } from "../message/types.ts";

/** Where in the SMTP dialogue a reply (or failure) happened. */
export type SmtpStage = "connect" | "greeting" | "ehlo" | "tls" | "mail" | "rcpt" | "data" | "dot" | "rset";

export interface Classification {
  kind: "deferred" | "bounced";
  scope: FailureScope;
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Parses a raw reply ("250-first\n250 2.0.0 last", as nodemailer hands it over) into a Reply:
 * the code of the last line, the enhanced code of the first line that has one, and the text of
 * all lines without their codes, joined by spaces.
 */
export function parseReply(raw: string): Reply {
  const lines = raw
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
  let code = 0;
  let enhanced: string | null = null;
  const texts: string[] = [];
  for (const line of lines) {
    const match = /^(\d{3})(?:[ -]|$)(.*)$/.exec(line);
    if (!match) {
      texts.push(line.trim());
      continue;
    }
    code = Number(match[1]);
    let text = match[2] ?? "";
    const first = text.split(/\s+/, 1)[0] ?? "";
    if (ENHANCED.test(first)) {
      enhanced ??= first;
      text = text.slice(first.length).trimStart();
    }
    if (text) texts.push(text);
  }
  if (enhanced !== null && enhanced[0] !== String(code)[0]) enhanced = null;
  return { code, enhanced, text: texts.join(" ") };
}

/** An enhanced code for a reply that did not carry one (RFC 3463), based on the stage. */
export function defaultEnhancedCode(code: number, stage: SmtpStage): string {
  const cls = code >= 500 ? 5 : code >= 400 ? 4 : 2;
  if (cls === 2) return "2.0.0";
  if (code === 421) return "4.4.2";
  switch (stage) {
    case "connect":
    case "greeting":
    case "ehlo":
    case "rset":
      return `${cls}.4.0`;
    case "tls":
      return `${cls}.7.0`;
    case "rcpt":
      if (code === 452) return "4.5.3";
      if (code === 552) return "5.2.2";
      return `${cls}.1.0`;
    case "mail":
      return code === 552 || code === 452 ? `${cls}.3.4` : `${cls}.1.7`;
    case "data":
    case "dot":
      return code === 552 ? "5.3.4" : `${cls}.6.0`;
  }
}

/** The reply with an enhanced code filled in when the peer sent none. */
export function withEnhancedCode(reply: Reply, stage: SmtpStage): Reply {
  return reply.enhanced ? reply : { ...reply, enhanced: defaultEnhancedCode(reply.code, stage) };
}

/** Words receivers use when the refusal is about the connecting IP, not the mail. */
const SOURCE_BLAME =
  /\b(?:\d{1,3}\.){3}\d{1,3}\b|\[[0-9a-f:]+:[0-9a-f:]*\]|\bIP\b|block ?list|black ?list|blocked using|spamhaus|\bRBL\b|DNSBL|reputation|\bTSS\d+\b|client host/i;

/** True for policy refusals (x.7.x, or none given on a connection-level reply) that name our IP. */
export function blamesSource(reply: Reply): boolean {
  const subject = reply.enhanced?.split(".")[1];
  const policy = subject === "7" || (reply.enhanced === null && (reply.code === 421 || reply.code === 554));
  return policy && SOURCE_BLAME.test(reply.text);
}

/** Classifies a reply the peer actually sent at a given stage. 2xx/3xx replies never get here. */
export function classifyReply(reply: Reply, stage: SmtpStage): Classification {
  const kind = reply.code >= 500 ? "bounced" : "deferred";
  if (blamesSource(reply)) return { kind, scope: "source" };
  if (reply.code === 421) return { kind: "deferred", scope: "destination" };
  switch (stage) {
    case "rcpt":
      return { kind, scope: "recipient" };
    case "mail":
    case "data":
    case "dot":
      return { kind, scope: "message" };
    default:
      return { kind, scope: "destination" };
  }
}

/** Network-level failure codes (node / nodemailer) worth naming in a reply text. */
const NETWORK_TEXT: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EADDRNOTAVAIL: "cannot bind source address",
  ETIMEDOUT: "timed out",
  ECONNECTION: "lost connection",
  EPROTOCOL: "protocol error",
  ETLS: "TLS failure",
};

/**
 * A reply describing a local/network failure (no reply from the peer): always temporary,
 * scope destination. Connect-stage failures get 4.4.1 (no answer), later ones 4.4.2 (bad connection).
 */
export function networkFailureReply(code: string | undefined, stage: SmtpStage, detail: string): Reply {
  const what = (code && NETWORK_TEXT[code]) ?? "connection failed";
  const enhanced = stage === "tls" ? "4.7.5" : stage === "connect" ? "4.4.1" : "4.4.2";
  return { code: 451, enhanced, text: `${detail}: ${what}` };
}

/** Classification of a network-level failure: temporary, the destination's fault. */
export function classifyNetworkFailure(): Classification {
  return { kind: "deferred", scope: "destination" };
}
