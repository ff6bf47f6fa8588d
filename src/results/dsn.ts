/**
 * Builds RFC 3464 delivery status notifications: the bounce, delay warning or success report
 * ("relayed" to a next hop without DSN) we send back to a message's envelope sender about some
 * of its recipients. Pure apart from
 * the random token: takes the stored message and the failures, returns the new message to
 * spool. Who gets notified follows RFC 3461 (NOTIFY per recipient, RET per message) and
 * RFC 3834 (never a notification to the null sender or about a notification).
 *
 * The MIME tree is built with nodemailer's MimeNode: it can express multipart/report with its
 * report-type parameter and passes message/* content through untouched. One exception: it
 * re-encodes every text/* part it judges "not plain" (long lines, 8-bit) as quoted-printable,
 * which would garble a returned header block (Received lines are often over 76 characters),
 * so that one part is given to MimeNode as a raw, pre-formed part (setRaw).
 */

import { randomBytes } from "node:crypto";
import MimeNode from "nodemailer/lib/mime-node";
import type { BounceClass } from "../feedback/types.ts";
import type { DsnNotify, NewMessage, Reply, StoredMessage } from "../message/types.ts";
import { formatReply, toAsciiLine } from "./reply-text.ts";

/**
 * RFC 3464 2.3.3 actions we report. "relayed" and "delivered" are success reports: sent only to
 * a recipient whose NOTIFY explicitly asks for SUCCESS.
 */
export type DsnAction = "failed" | "delayed" | "relayed" | "delivered";

/** One recipient's entry in a notification (named for its usual case, a failure). */
export interface DsnFailure {
  /** Index into original.recipients. */
  index: number;
  action: DsnAction;
  /** RFC 3463 status "x.y.z". For an expired message: "4.4.7" with action "failed"; success: "2.0.0". */
  status: string;
  /** The remote (or local) reply; for an expired message, the last deferral's reply. */
  reply: Reply;
  /** Host name of the server that gave the reply, null when no SMTP server was reached. */
  remoteMta: string | null;
  /**
   * The failure's class (src/feedback/classify-bounce.ts): reported per recipient as an
   * `X-Mailfleet-Bounce-Class:` extension field (RFC 3464 7: X- fields) and in the text part.
   */
  bounceClass?: BounceClass;
}

export interface DsnInput {
  original: StoredMessage;
  /** The stored message: headers + body, CRLF line endings. */
  originalBody: Buffer;
  failures: DsnFailure[];
  /** Our host name (Reporting-MTA, Message-ID domain). */
  reportingMta: string;
  /** From: of the notification, e.g. MAILER-DAEMON@host (config.bounce.from). */
  from: string;
  now: Date;
  /** For delayed recipients: when we give up (arrival + queue lifetime). Omitted when absent. */
  willRetryUntil?: Date;
  /** Random token for the Message-ID and the MIME boundary; inject a constant in tests. */
  randomToken?: () => string;
}

export interface BuiltDsn {
  message: NewMessage;
  body: Buffer;
}

const FAILED_SUBJECT = "Undelivered Mail Returned to Sender";
const DELAYED_SUBJECT = "Delayed Mail (still being retried)";
const SUCCESS_SUBJECT = "Successful Mail Delivery Report";
const EXPIRED_STATUS = "4.4.7";

/**
 * Returns the notification to queue, or null when none is due: the original came from the
 * null sender or is itself a notification, or no failure's recipient asked to be told
 * (NOTIFY=NEVER, or NOTIFY without FAILURE / DELAY / SUCCESS for that action).
 */
export async function buildDsn(input: DsnInput): Promise<BuiltDsn | null> {
  const { original } = input;
  if (original.sender === "" || original.isBounce) return null;
  const reported = input.failures.filter((failure) => wantsNotice(input, failure));
  if (reported.length === 0) return null;

  const anyFailed = reported.some((failure) => failure.action === "failed");
  const anyDelayed = reported.some((failure) => failure.action === "delayed");
  const kind: ReportKind = anyFailed ? "failed" : anyDelayed ? "delayed" : "success";
  const token = input.randomToken ?? (() => randomBytes(8).toString("hex"));
  const root = new MimeNode("multipart/report; report-type=delivery-status", {
    baseBoundary: token(),
    boundaryPrefix: "=_mailfleet",
  });
  root.setHeader([
    { key: "From", value: { name: "Mail Delivery System", address: input.from } },
    // MimeNode keeps a UTF-8 mailbox as is (RFC 6532) and punycodes only an IDN domain.
    { key: "To", value: original.sender },
    { key: "Subject", value: SUBJECTS[kind] },
    { key: "Date", value: input.now },
    { key: "Message-ID", value: `<${compactTime(input.now)}.${token()}@${input.reportingMta}>` },
    { key: "Auto-Submitted", value: "auto-replied" },
    { key: "MIME-Version", value: "1.0" },
  ]);

  // RFC 3461 4.3: RET applies to "failed" notifications only. Without RET the choice is ours:
  // we return the headers only (less data sent back to a possibly forged sender, and no
  // second copy of a large message); a delay warning or success report always carries the
  // headers only.
  const returnFull = anyFailed && original.dsn.ret === "FULL";
  root
    .createChild("text/plain; charset=us-ascii")
    .setHeader("Content-Description", "Notification")
    .setContent(humanReadable(input, reported, returnFull));

  const statusFields = deliveryStatus(input, reported);
  root
    .createChild(hasNonAscii(statusFields) ? "message/global-delivery-status" : "message/delivery-status")
    .setHeader("Content-Description", kind === "delayed" ? "Delay report" : "Delivery report")
    .setContent(statusFields);

  if (returnFull) {
    const returned = root
      .createChild(hasEightBit(input.originalBody) ? "message/global" : "message/rfc822")
      .setHeader("Content-Description", "Undelivered Message")
      .setContent(input.originalBody);
    if (hasEightBit(input.originalBody)) returned.setHeader("Content-Transfer-Encoding", "8bit");
  } else {
    const headers = headerBlock(input.originalBody);
    const eightBit = hasEightBit(headers);
    const partHeaders = [
      `Content-Type: ${eightBit ? "message/global-headers" : "text/rfc822-headers"}`,
      `Content-Description: ${HEADERS_DESCRIPTIONS[kind]}`,
      ...(eightBit ? ["Content-Transfer-Encoding: 8bit"] : []),
    ];
    root
      .createChild(false)
      .setRaw(Buffer.concat([Buffer.from(`${partHeaders.join("\r\n")}\r\n\r\n`), headers]));
  }

  const body = await root.build();
  const message: NewMessage = {
    sender: "",
    recipients: [{ address: original.sender, dsn: { notify: [], orcpt: null } }],
    dsn: { ret: null, envid: null },
    // Decided by what the notification holds, not by the original: a headers-only report of
    // an 8BITMIME message is usually plain ASCII and can go to a server without 8BITMIME.
    bodyType: hasEightBit(body) ? "8BITMIME" : "7BIT",
    smtpUtf8: original.smtpUtf8,
    clientAddress: "local",
    clientHelo: input.reportingMta,
    arrivedAt: input.now.getTime(),
    isBounce: true,
    // The tenant the original was sent for: its bounces count against the same tenant.
    tenant: original.tenant ?? null,
  };
  return { message, body };
}

/** What a notification is about, by its most serious entry: decides the wording. */
type ReportKind = "failed" | "delayed" | "success";

const SUBJECTS: Record<ReportKind, string> = {
  failed: FAILED_SUBJECT,
  delayed: DELAYED_SUBJECT,
  success: SUCCESS_SUBJECT,
};

const HEADERS_DESCRIPTIONS: Record<ReportKind, string> = {
  failed: "Undelivered Message Headers",
  delayed: "Delayed Message Headers",
  success: "Message Headers",
};

/** The NOTIFY keyword that asks for each action. */
const NOTIFY_FOR: Record<DsnAction, DsnNotify> = {
  failed: "FAILURE",
  delayed: "DELAY",
  relayed: "SUCCESS",
  delivered: "SUCCESS",
};

/**
 * RFC 3461 4.1: no NOTIFY means FAILURE and DELAY (never SUCCESS); NEVER (stored as []) means
 * nothing.
 */
function wantsNotice(input: DsnInput, failure: DsnFailure): boolean {
  const recipient = input.original.recipients[failure.index];
  if (recipient === undefined) {
    throw new Error(`DSN failure index ${failure.index} has no recipient in ${input.original.id}`);
  }
  const wanted = NOTIFY_FOR[failure.action];
  const notify = recipient.dsn.notify;
  if (notify === null) return wanted !== "SUCCESS";
  return notify.includes(wanted);
}

function isSuccess(failure: DsnFailure): boolean {
  return failure.action === "relayed" || failure.action === "delivered";
}

function recipientAddress(input: DsnInput, failure: DsnFailure): string {
  return input.original.recipients[failure.index]?.address ?? "";
}

/** The text/plain part, worded like Postfix's bounce templates so operators recognise it. */
function humanReadable(input: DsnInput, reported: DsnFailure[], returnFull: boolean): string {
  const failed = reported.filter((failure) => failure.action === "failed");
  const delayed = reported.filter((failure) => failure.action === "delayed");
  const succeeded = reported.filter(isSuccess);
  const lines = [`This is the mail system at host ${input.reportingMta}.`, ""];
  if (failed.length > 0) {
    lines.push(
      "I'm sorry to have to inform you that your message could not",
      `be delivered to one or more recipients. ${returnFull ? "It's" : "Its headers are"} attached below.`,
      "",
      "For further assistance, please send mail to postmaster.",
      "",
      "If you do so, please include this problem report. You can",
      "delete your own text from the attached returned message.",
    );
  } else if (delayed.length > 0) {
    lines.push(
      "####################################################################",
      "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #",
      "####################################################################",
      "",
      "Your message could not be delivered yet to one or more recipients.",
    );
    if (input.willRetryUntil !== undefined) {
      lines.push(`It will be retried until ${rfc5322Date(input.willRetryUntil)}.`);
    }
  } else {
    lines.push(
      "Your message was successfully delivered to the destination(s)",
      "listed below. If the message was relayed to a system that does not",
      "report delivery status, you will receive no further notifications",
      "from it; you may still receive notifications of mail delivery",
      "errors from other systems.",
    );
  }
  lines.push("", "                   The mail system", "");
  for (const failure of failed) lines.push(...explain(input, failure), "");
  if (failed.length > 0 && delayed.length > 0) {
    lines.push("Delivery to the following recipients is still being retried:", "");
  }
  for (const failure of delayed) lines.push(...explain(input, failure), "");
  if (succeeded.length > 0 && succeeded.length < reported.length) {
    lines.push("Your message was successfully delivered to the following recipients:", "");
  }
  for (const failure of succeeded) lines.push(...explain(input, failure), "");
  return lines.join("\r\n");
}

/** "<b@example.com>: host mx.example.com said: 550 5.1.1 ...", wrapped to 72 columns. */
function explain(input: DsnInput, failure: DsnFailure): string[] {
  const reply = formatReply(failure.reply);
  const said = failure.remoteMta === null ? reply : `host ${toAsciiLine(failure.remoteMta)} said: ${reply}`;
  const expired = failure.action === "failed" && failure.status === EXPIRED_STATUS;
  const reason = expired
    ? `message delivery time expired; last error: ${said}`
    : failure.action === "relayed"
      ? `relayed to a mailer that does not report delivery status; ${said}`
      : said;
  const classified = failure.bounceClass === undefined ? "" : ` (class: ${failure.bounceClass})`;
  return wrap(`<${recipientAddress(input, failure)}>: ${reason}${classified}`, 72, "    ");
}

/** The message/delivery-status part: per-message fields, then one block per recipient. */
function deliveryStatus(input: DsnInput, reported: DsnFailure[]): string {
  const { original } = input;
  const messageFields = [
    `Reporting-MTA: dns; ${input.reportingMta}`,
    `X-Mailfleet-Queue-ID: ${original.id}`,
    `X-Mailfleet-Sender: ${addressField(original.sender)}`,
  ];
  if (original.dsn.envid !== null)
    messageFields.push(`Original-Envelope-Id: ${fieldText(original.dsn.envid)}`);
  messageFields.push(`Arrival-Date: ${rfc5322Date(new Date(original.arrivedAt))}`);

  const blocks = [messageFields];
  for (const failure of reported) {
    const recipient = original.recipients[failure.index];
    const fields: string[] = [];
    if (recipient?.dsn.orcpt) fields.push(`Original-Recipient: ${fieldText(recipient.dsn.orcpt)}`);
    fields.push(
      `Final-Recipient: ${addressField(recipientAddress(input, failure))}`,
      `Action: ${failure.action}`,
      `Status: ${failure.status}`,
    );
    if (failure.remoteMta !== null) fields.push(`Remote-MTA: dns; ${toAsciiLine(failure.remoteMta)}`);
    // "smtp" claims the text came from an SMTP server; a local failure gets our own type.
    const diagnosticType = failure.remoteMta === null ? "X-mailfleet" : "smtp";
    fields.push(
      `Diagnostic-Code: ${diagnosticType}; ${formatReply(failure.reply)}`,
      `Last-Attempt-Date: ${rfc5322Date(input.now)}`,
    );
    if (failure.bounceClass !== undefined) fields.push(`X-Mailfleet-Bounce-Class: ${failure.bounceClass}`);
    if (failure.action === "delayed" && input.willRetryUntil !== undefined) {
      fields.push(`Will-Retry-Until: ${rfc5322Date(input.willRetryUntil)}`);
    }
    blocks.push(fields);
  }
  return `${blocks.map((fields) => fields.map(foldField).join("\r\n")).join("\r\n\r\n")}\r\n`;
}

/** RFC 6533: a non-ASCII address is typed "utf-8"; everything else is "rfc822". */
function addressField(address: string): string {
  return `${hasNonAscii(address) ? "utf-8" : "rfc822"}; ${fieldText(address)}`;
}

/** Header-safe text: no line breaks or control characters (non-ASCII kept for utf-8 types). */
function fieldText(text: string): string {
  return text.replace(/\p{Cc}/gu, "?");
}

/** Folds a long header field at spaces (continuation lines start with a space). */
function foldField(field: string): string {
  return wrap(field, 76, " ").join("\r\n");
}

/** The header block of a message, up to and including the CRLF before the blank line. */
export function headerBlock(message: Buffer): Buffer {
  const end = message.indexOf("\r\n\r\n");
  if (end >= 0) return message.subarray(0, end + 2);
  if (message.length === 0 || message.subarray(-2).toString() === "\r\n") return message;
  return Buffer.concat([message, Buffer.from("\r\n")]);
}

/** Greedy word wrap; words longer than the width stay whole on their own line. */
function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line === "") line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = indent + word;
    }
  }
  lines.push(line);
  return lines;
}

/** "Mon, 23 Nov 2026 12:00:00 +0000" (RFC 5322 date-time, always UTC). */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, "+0000");
}

/** "20261123120000" for Message-IDs, so they sort and read as a time. */
function compactTime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

function hasNonAscii(text: string): boolean {
  return /[^\p{ASCII}]/u.test(text);
}

function hasEightBit(data: Buffer): boolean {
  return data.some((byte) => byte > 0x7f);
}
