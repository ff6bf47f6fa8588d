/**
 * Splits a report (multipart/report, RFC 6522) into its parts with mailsplit, nodemailer's
 * MIME splitter, rather than by hand: boundaries, nesting, folded headers and transfer
 * encodings are its job. Attached messages (message/rfc822) stay leaves; their header block is
 * read with mailsplit's Headers. Also parses "field blocks" (message/delivery-status,
 * message/feedback-report: header-like fields in groups separated by blank lines).
 */
import { Headers, Splitter, type SplitterChunk } from "@zone-eu/mailsplit";

export interface ReportPart {
  contentType: string;
  /** Decoded body (base64 and quoted-printable undone). */
  body: Buffer;
}

export interface SplitReport {
  /** Content-Type of the whole message, lower case, without parameters. */
  contentType: string;
  /** The report-type parameter of a multipart/report, lower case ("" when none). */
  reportType: string;
  headers: InstanceType<typeof Headers>;
  parts: ReportPart[];
}

type MimeNode = Extract<SplitterChunk, { type: "node" }>;

/** Bounds: a report is small; anything bigger is cut off, never buffered whole twice. */
const MAX_PARTS = 50;

function decode(encoding: string, body: Buffer): Buffer {
  if (encoding === "base64")
    return Buffer.from(body.toString("latin1").replace(/[^A-Za-z0-9+/=]/g, ""), "base64");
  if (encoding === "quoted-printable") {
    const text = body
      .toString("latin1")
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
    return Buffer.from(text, "latin1");
  }
  return body;
}

export async function splitReport(raw: Buffer): Promise<SplitReport> {
  const splitter = new Splitter({ ignoreEmbedded: true, maxChildNodes: MAX_PARTS });
  splitter.end(raw);
  const nodes: { node: MimeNode; body: Buffer[] }[] = [];
  let current: { node: MimeNode; body: Buffer[] } | null = null;
  for await (const chunk of splitter) {
    const c = chunk as SplitterChunk;
    if (c.type === "node") {
      current = { node: c, body: [] };
      nodes.push(current);
    } else if (c.type === "body" && current) current.body.push(c.value);
  }
  const root = nodes[0]?.node;
  if (!root) throw new Error("not a message");
  root.getHeaders();
  const headers = root.headers || new Headers("");
  const ctLine = headers.getFirst("Content-Type");
  const reportType = /report-type\s*=\s*"?([a-z0-9-]+)/i.exec(ctLine)?.[1]?.toLowerCase() ?? "";
  const parts: ReportPart[] = [];
  for (const { node, body } of nodes) {
    if (node.multipart) continue;
    node.getHeaders();
    const contentType = (node.contentType || "text/plain").toLowerCase();
    parts.push({ contentType, body: decode(node.encoding || "", Buffer.concat(body)) });
  }
  return { contentType: (root.contentType || "text/plain").toLowerCase(), reportType, headers, parts };
}

/** Groups of fields (RFC 3464 2.1, RFC 5965 3.1): one Headers per blank-line separated group. */
/** Content types under which a report returns the original message or its headers. */
const RETURNED = new Set([
  "message/rfc822",
  "text/rfc822-headers",
  "message/rfc822-headers",
  "message/global",
  "message/global-headers",
]);

/** The part of a DSN or ARF report that returns the original message (or its headers), if any. */
export function returnedPart(report: SplitReport): ReportPart | undefined {
  return report.parts.find((p) => RETURNED.has(p.contentType));
}

export function fieldGroups(body: Buffer): InstanceType<typeof Headers>[] {
  const text = body.toString("utf8").replace(/\r?\n/g, "\r\n");
  return text
    .split(/\r\n(?:[ \t]*\r\n)+/)
    .map((g) => g.trim())
    .filter((g) => g !== "")
    .map((g) => new Headers(Buffer.from(`${g}\r\n\r\n`)));
}

/** The header block of an attached message (message/rfc822 or text/rfc822-headers). */
export function attachedHeaders(body: Buffer): InstanceType<typeof Headers> {
  const text = body.toString("utf8").replace(/\r?\n/g, "\r\n");
  const end = text.indexOf("\r\n\r\n");
  return new Headers(Buffer.from(`${end < 0 ? text : text.slice(0, end)}\r\n\r\n`));
}

/** Strips "rfc822;" and angle brackets from an address-typed field. */
export function fieldAddress(value: string): string | null {
  const v = value
    .replace(/^\s*[a-z0-9-]+\s*;/i, "")
    .trim()
    .replace(/^<|>$/g, "")
    .trim();
  return v === "" ? null : v.toLowerCase();
}
