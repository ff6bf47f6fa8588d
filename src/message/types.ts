/**
 * Domain types that travel along the data path: SMTP in -> spool -> scheduler -> delivery -> results.
 * Every module speaks these types at its seams, so they live in one small module with no logic.
 */

/** Queue id: 20 chars of uppercase base32, time-ordered (so `mailq` and logs sort by arrival). */
export type QueueId = string;

/** RFC 3461 NOTIFY values. "NEVER" excludes the others. */
export type DsnNotify = "SUCCESS" | "FAILURE" | "DELAY";

/** DSN parameters given on MAIL FROM (RFC 3461 section 4.3 and 4.4). */
export interface MessageDsn {
  ret: "FULL" | "HDRS" | null;
  envid: string | null;
}

/** DSN parameters given on RCPT TO (RFC 3461 section 4.1 and 4.2). */
export interface RecipientDsn {
  /** null = not given (sender gets the default: failures and delays). [] = NEVER. */
  notify: DsnNotify[] | null;
  /** ORCPT as given, e.g. "rfc822;user@example.com". */
  orcpt: string | null;
}

/** Final or pending state of one recipient. Each recipient is tracked on its own. */
export type RecipientState = "pending" | "delivered" | "bounced" | "expired";

export interface Recipient {
  address: string;
  dsn: RecipientDsn;
  state: RecipientState;
}

/** What the SMTP listener hands to the spool: everything known about a message at acceptance. */
export interface NewMessage {
  /** Envelope sender; "" is the null sender (bounces). */
  sender: string;
  recipients: { address: string; dsn: RecipientDsn }[];
  dsn: MessageDsn;
  bodyType: "7BIT" | "8BITMIME";
  smtpUtf8: boolean;
  /** Client that gave us the message, for logs and DSNs. "local" for internally generated mail. */
  clientAddress: string;
  clientHelo: string;
  /** Unix ms. */
  arrivedAt: number;
  /** True for DSNs we generated: never bounce a bounce. */
  isBounce: boolean;
  /**
   * Who the message is sent for (src/feedback/tenant.ts): the authenticated user, the
   * X-Mailfleet-Tenant header or the sender domain, per `tenants.from`; null = no tenant.
   * Suppression lists and reputation counters are kept per tenant.
   */
  tenant: string | null;
}

/** A message as the spool knows it after it is durable (body kept in the spool, not in memory). */
export interface StoredMessage extends Omit<NewMessage, "recipients"> {
  id: QueueId;
  recipients: Recipient[];
  /** Body size in bytes (headers + body, CRLF line endings, not dot-stuffed). */
  size: number;
}

/** Who is responsible when a delivery attempt fails. Decides what the scheduler throttles. */
export type FailureScope = "recipient" | "message" | "destination" | "source";

/** An SMTP reply (or local failure described as one). Always data, never thrown. */
export interface Reply {
  code: number;
  /** Enhanced status code "x.y.z" when known. */
  enhanced: string | null;
  text: string;
}

/** Where a delivery went (for the delivery log). */
export interface RelayInfo {
  host: string;
  ip: string;
  port: number;
  sourceIp: string | null;
}

/** Outcome of one delivery attempt for one recipient. */
export type RecipientOutcome =
  | {
      kind: "delivered";
      recipientIndex: number;
      reply: Reply;
      relay: RelayInfo;
      /**
       * Whether the next hop advertised DSN (RFC 3461) in its EHLO reply. When it did not, a
       * NOTIFY=SUCCESS recipient is owed a "relayed" DSN from us (RFC 3461 5.2.2); when it did,
       * the next hop took that duty over. Absent when unknown: no success DSN is sent.
       */
      peerSupportsDsn?: boolean;
    }
  | {
      kind: "deferred";
      recipientIndex: number;
      reply: Reply;
      scope: FailureScope;
      relay: RelayInfo | null;
      /** Set when the connection dropped after the final dot: the peer may have the message. */
      mayBeDuplicated?: boolean;
    }
  | { kind: "bounced"; recipientIndex: number; reply: Reply; scope: FailureScope; relay: RelayInfo | null };
