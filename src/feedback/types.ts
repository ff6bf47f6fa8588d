/**
 * Seams of mail identity and feedback (issue "Mail identity and feedback"): who sent a message
 * (tenant), how a failure is classified, who must not be mailed again (suppression), and the
 * events the reputation counters count. Implementations live beside this file; the listener,
 * scheduler, results and CLI speak only these types.
 */

/** Every failure gets exactly one class, from reply code, enhanced code and text. */
export type BounceClass =
  | "invalid_recipient"
  | "mailbox_full"
  | "policy"
  | "reputation"
  | "rate_limited"
  | "dns"
  | "tls"
  | "other";

export const BOUNCE_CLASSES: readonly BounceClass[] = [
  "invalid_recipient",
  "mailbox_full",
  "policy",
  "reputation",
  "rate_limited",
  "dns",
  "tls",
  "other",
];

/** Why an address is suppressed. */
export type SuppressionReason = "hard_bounce" | "complaint" | "manual";

export interface SuppressionEntry {
  /** null = the list of mail without a tenant. */
  tenant: string | null;
  /** Lower-cased address. */
  address: string;
  reason: SuppressionReason;
  /** Unix ms. */
  addedAt: number;
  /** Free text: the bounce reply, the complaint's feedback type, the operator's note. */
  detail: string;
}

/** Per-tenant suppression list; durable (fsync'd) before add/remove resolve. */
export interface SuppressionList {
  has(tenant: string | null, address: string): boolean;
  add(entry: SuppressionEntry): Promise<void>;
  remove(tenant: string | null, address: string): Promise<boolean>;
  list(tenant?: string | null): SuppressionEntry[];
}

/** One thing the reputation counters count. */
export interface FeedbackEvent {
  kind: "delivered" | "deferred" | "bounced" | "complaint";
  tenant: string | null;
  /** Source IP the message left from (null when unknown, e.g. no connection was made). */
  sourceIp: string | null;
  /** Destination provider: the MX site key or domain group (null when unknown). */
  provider: string | null;
  /** For deferred and bounced. */
  bounceClass?: BounceClass;
  /** Unix ms. */
  at: number;
}
