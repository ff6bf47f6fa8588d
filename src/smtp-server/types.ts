/**
 * Seam between the SMTP listener and the rest of the instance. The listener speaks SMTP and
 * enforces protocol limits; what happens to an accepted message is the Receiver's job.
 */
import type { NewMessage, QueueId, Reply } from "../message/types.ts";

/** What policy checks know about an SMTP session. */
export interface SessionFacts {
  /** smtp-server's session id: policy checks keep per-session state (rate-limit slots) under it. */
  id: string;
  /** Client IP as seen on the socket. */
  clientAddress: string;
  /** EHLO/HELO argument ("" before it). */
  helo: string;
  /** TLS is active (implicit TLS or after STARTTLS). */
  tls: boolean;
  /** Authenticated user name, or null. */
  user: string | null;
  /** The client is in relay.trusted_networks (our own applications and instances). */
  trusted: boolean;
  /** The listener the client reached, "host:port". */
  listener: string;
}

/** The end-of-DATA verdict: refuse, or headers to prepend and perhaps a rewritten message. */
export type DataVerdict = { reply: Reply } | { headers: string[]; content?: Buffer };

/** A policy verdict: refuse with this reply, or go on (null). */
export type PolicyVerdict = Reply | null;

/**
 * Fixed hook points for inbound checks (rate limits, DNSBL, SPF/DKIM/DMARC, rspamd). The listener
 * calls them in this order and refuses with the first non-null reply. Implementations live in
 * src/policy; a listener without policy checks uses `NO_POLICY`.
 */
export interface InboundPolicy {
  /** After the TCP connect, before the greeting. A reply here is sent instead of 220, then close. */
  onConnect(session: SessionFacts): Promise<PolicyVerdict>;
  onMail(session: SessionFacts, sender: string): Promise<PolicyVerdict>;
  onRcpt(session: SessionFacts, sender: string, recipient: string): Promise<PolicyVerdict>;
  /**
   * After the whole message arrived, before it is stored. `message` is headers + body with CRLF.
   * May refuse, or return header lines (without CRLF) to prepend, e.g. Authentication-Results,
   * and the message to store instead of `message` (forged Authentication-Results taken out).
   */
  onData(
    session: SessionFacts,
    envelope: { sender: string; recipients: string[] },
    message: Buffer,
  ): Promise<DataVerdict>;
  /** The session ended (for per-IP connection counts). */
  onClose(session: SessionFacts): void;
}

export const NO_POLICY: InboundPolicy = {
  onConnect: async () => null,
  onMail: async () => null,
  onRcpt: async () => null,
  onData: async () => ({ headers: [] }),
  onClose: () => {},
};

export type AcceptResult = { ok: true; id: QueueId } | { ok: false; reply: Reply };

export interface Receiver {
  /** Called at MAIL FROM: a reply to refuse the transaction (e.g. 452 4.3.1 disk low), or null. */
  checkCapacity(): Promise<Reply | null>;
  /** Called at end of DATA; must resolve only once the message is durable (then we say 250). */
  accept(message: NewMessage, body: Buffer): Promise<AcceptResult>;
}
