/**
 * Turns what smtp-server collected during one mail transaction into the NewMessage the spool
 * stores. Pure translation, no I/O: DSN parameters (RFC 3461), BODY= (RFC 6152) and SMTPUTF8
 * (RFC 6531) are mapped to the domain types in src/message/types.ts.
 */
import type { SMTPServerAddress, SMTPServerSession } from "smtp-server";
import type { Config } from "../config/types.ts";
import { applyTenant } from "../feedback/tenant.ts";
import type { DsnNotify, MessageDsn, NewMessage, RecipientDsn } from "../message/types.ts";
import { plainAddress } from "./relay-access.ts";
import { sessionUser } from "./submission-auth.ts";

const NOTIFY_VALUES: ReadonlySet<string> = new Set<DsnNotify>(["SUCCESS", "FAILURE", "DELAY"]);

/** NOTIFY: absent -> null (default behaviour), NEVER -> [], otherwise the listed values. */
export function recipientDsn(address: SMTPServerAddress): RecipientDsn {
  const given = address.dsn?.notify;
  let notify: DsnNotify[] | null = null;
  if (given !== undefined) {
    const upper = given.map((value) => value.toUpperCase());
    notify = upper.includes("NEVER")
      ? []
      : upper.filter((value): value is DsnNotify => NOTIFY_VALUES.has(value));
  }
  return { notify, orcpt: address.dsn?.orcpt ?? null };
}

/**
 * RET and ENVID from MAIL FROM. smtp-server has already decoded the xtext (RFC 3461 4) of ENVID
 * and ORCPT, so both are stored decoded: re-encode them as xtext when passing them on in
 * MAIL/RCPT parameters to the next hop.
 */
export function messageDsn(session: SMTPServerSession): MessageDsn {
  const dsn = session.envelope.dsn;
  const ret = dsn?.ret?.toUpperCase();
  return { ret: ret === "FULL" || ret === "HDRS" ? ret : null, envid: dsn?.envid ?? null };
}

/** HELO/EHLO name, or "" when the client gave none (smtp-server keeps `false` then). */
export function clientHelo(session: SMTPServerSession): string {
  const helo: unknown = session.hostNameAppearsAs;
  return typeof helo === "string" ? helo : "";
}

export function toNewMessage(session: SMTPServerSession, arrivedAt: number): NewMessage {
  const envelope = session.envelope;
  const mailFrom = envelope.mailFrom;
  return {
    sender: mailFrom ? mailFrom.address : "",
    recipients: envelope.rcptTo.map((rcpt) => ({ address: rcpt.address, dsn: recipientDsn(rcpt) })),
    dsn: messageDsn(session),
    bodyType: envelope.bodyType?.toLowerCase() === "8bitmime" ? "8BITMIME" : "7BIT",
    smtpUtf8: envelope.smtpUtf8 === true,
    clientAddress: plainAddress(session.remoteAddress),
    clientHelo: clientHelo(session),
    arrivedAt,
    isBounce: false,
    // Decided once the content is known (src/feedback/tenant.ts applyTenant).
    tenant: null,
  };
}

/**
 * toNewMessage plus the tenant (config `tenants`), decided from the session's AUTH user, the
 * sender and the content's tenant header; the returned content has that header removed (or, on
 * an instance that relays to another fleet instance, replaced by one with the decided tenant).
 */
export function toTenantMessage(
  config: Pick<Config, "tenants" | "instance">,
  session: SMTPServerSession,
  arrivedAt: number,
  content: Buffer,
): { message: NewMessage; content: Buffer } {
  return applyTenant(
    config.tenants,
    { relaying: config.instance.relayTo !== null, user: sessionUser(session)?.name ?? null },
    toNewMessage(session, arrivedAt),
    content,
  );
}
