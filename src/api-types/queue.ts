/**
 * Types shared by the admin HTTP API and the CLI: the CLI is a thin client, so both sides
 * compile against these and cannot drift apart.
 */

export interface QueueRecipientView {
  address: string;
  state: "pending" | "delivered" | "bounced" | "expired";
  /** Last deferral reason, for pending recipients that have been tried. */
  lastReason: string | null;
}

export interface QueueMessageView {
  id: string;
  size: number;
  /** ISO 8601. */
  arrivedAt: string;
  /** "" is the null sender. */
  sender: string;
  /** True while a delivery attempt is running. */
  active: boolean;
  attempts: number;
  /** ISO 8601, or null when due now / never tried. */
  nextAttemptAt: string | null;
  recipients: QueueRecipientView[];
}

export interface QueueListing {
  instance: string;
  total: number;
  messages: QueueMessageView[];
}

/** Where the admin API of a running instance is, written next to its spool. */
export interface AdminEndpoint {
  url: string;
  token: string;
  pid: number;
}
