/**
 * Parses an ARF feedback-loop report (RFC 5965: multipart/report;
 * report-type=feedback-report): the machine-readable part (Feedback-Type, Original-Mail-From,
 * Original-Rcpt-To, Source-IP, Arrival-Date, Reported-Domain) and the headers of the returned
 * message (Return-Path and To may carry our VERP token; Message-ID; X-Mailfleet-Tenant).
 */
import { attachedHeaders, fieldAddress, fieldGroups, returnedPart, type SplitReport } from "./ingest-mime.ts";

export interface ParsedArf {
  /** abuse, fraud, virus, other, not-spam... (lower case). */
  feedbackType: string;
  userAgent: string | null;
  originalMailFrom: string | null;
  originalRcptTo: string | null;
  sourceIp: string | null;
  arrivalDate: string | null;
  reportedDomain: string | null;
  /** Header block of the returned message (raw text), "" when none. */
  returnedHeaders: string;
  returnedMessageId: string | null;
  returnedTo: string | null;
  returnedTenant: string | null;
}

/** null when the message is not a feedback report. */
export function parseArf(report: SplitReport): ParsedArf | null {
  const part = report.parts.find((p) => p.contentType === "message/feedback-report");
  if (!part) return null;
  const [fields] = fieldGroups(part.body);
  const get = (name: string) => fields?.getFirst(name) || null;
  const returned = returnedPart(report);
  const h = returned ? attachedHeaders(returned.body) : null;
  const to = h?.getFirst("To") ?? "";
  return {
    feedbackType: (get("Feedback-Type") ?? "other").toLowerCase(),
    userAgent: get("User-Agent"),
    originalMailFrom: fieldAddress(get("Original-Mail-From") ?? ""),
    originalRcptTo: fieldAddress(get("Original-Rcpt-To") ?? ""),
    sourceIp: get("Source-IP")?.replace(/^\[|\]$/g, "") ?? null,
    arrivalDate: get("Arrival-Date") ?? get("Received-Date"),
    reportedDomain: get("Reported-Domain"),
    returnedHeaders: h ? h.build().toString("utf8") : "",
    returnedMessageId: h?.getFirst("Message-ID") || null,
    returnedTo: /<?([^<>\s,]+@[^<>\s,]+)>?/.exec(to)?.[1]?.toLowerCase() ?? null,
    returnedTenant: h?.getFirst("X-Mailfleet-Tenant") || null,
  };
}
