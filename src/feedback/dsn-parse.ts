/**
 * Parses an RFC 3464 delivery status notification (multipart/report;
 * report-type=delivery-status) into one entry per recipient: Final-Recipient, Action, Status,
 * Diagnostic-Code and Remote-MTA, plus the returned message's headers (where our VERP return
 * path or Message-ID may be found). The MIME work is mailsplit's (ingest-mime.ts).
 */
import { attachedHeaders, fieldAddress, fieldGroups, returnedPart, type SplitReport } from "./ingest-mime.ts";

export interface DsnRecipient {
  finalRecipient: string | null;
  originalRecipient: string | null;
  /** failed, delayed, delivered, relayed, expanded (lower case). */
  action: string;
  /** "5.1.1"; "" when missing. */
  status: string;
  /** The diagnostic text without its type ("smtp;"), "" when none. */
  diagnostic: string;
  remoteMta: string | null;
}

export interface ParsedDsn {
  reportingMta: string | null;
  originalEnvelopeId: string | null;
  recipients: DsnRecipient[];
  /** Header block of the returned message or headers (raw text), "" when none. */
  returnedHeaders: string;
  returnedMessageId: string | null;
}

const DELIVERY_STATUS = new Set(["message/delivery-status", "message/global-delivery-status"]);

/** null when the message is not a delivery status report. */
export function parseDsn(report: SplitReport): ParsedDsn | null {
  const status = report.parts.find((p) => DELIVERY_STATUS.has(p.contentType));
  if (!status) return null;
  const [messageFields, ...recipientFields] = fieldGroups(status.body);
  const recipients: DsnRecipient[] = [];
  for (const h of recipientFields) {
    const action = h.getFirst("Action").toLowerCase();
    if (action === "" && !h.hasHeader("Final-Recipient")) continue;
    recipients.push({
      finalRecipient: fieldAddress(h.getFirst("Final-Recipient")),
      originalRecipient: fieldAddress(h.getFirst("Original-Recipient")),
      action: action.split(/\s/)[0] ?? "",
      status: /\d\.\d{1,3}\.\d{1,3}/.exec(h.getFirst("Status"))?.[0] ?? "",
      diagnostic: h
        .getFirst("Diagnostic-Code")
        .replace(/^\s*[a-z0-9-]+\s*;\s*/i, "")
        .replace(/\s+/g, " ")
        .trim(),
      remoteMta: fieldAddress(h.getFirst("Remote-MTA")),
    });
  }
  const returned = returnedPart(report);
  const returnedHeaders = returned ? attachedHeaders(returned.body) : null;
  return {
    reportingMta: messageFields ? fieldAddress(messageFields.getFirst("Reporting-MTA")) : null,
    originalEnvelopeId: messageFields?.getFirst("Original-Envelope-Id") || null,
    recipients,
    returnedHeaders: returnedHeaders ? returnedHeaders.build().toString("utf8") : "",
    returnedMessageId: returnedHeaders?.getFirst("Message-ID") || null,
  };
}

/** Splits "550 5.1.1 text" into a reply for classification; the status stands in when no code. */
export function diagnosticReply(r: DsnRecipient): { code: number; enhanced: string | null; text: string } {
  const m = /^(\d{3})[ -](?:(\d\.\d{1,3}\.\d{1,3}) )?(.*)$/.exec(r.diagnostic);
  const fromStatus = r.status.startsWith("5") ? 550 : r.status.startsWith("4") ? 450 : 250;
  if (m) return { code: Number(m[1]), enhanced: m[2] ?? (r.status || null), text: m[3] ?? "" };
  return { code: fromStatus, enhanced: r.status || null, text: r.diagnostic };
}
