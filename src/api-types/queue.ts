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
  /** Put on hold by `mailfleet queue hold`: never tried until released (survives restarts). */
  held: boolean;
  attempts: number;
  /** ISO 8601, or null when due now / never tried. */
  nextAttemptAt: string | null;
  recipients: QueueRecipientView[];
}

export interface QueueListing {
  instance: string;
  /** Every message in the queue. */
  total: number;
  /** Oldest first: all of them, or the `limit` oldest (GET /v1/queue?limit=N, mailq -n N). */
  messages: QueueMessageView[];
}

/** Where the admin API of a running instance is, written next to its spool. */
export interface AdminEndpoint {
  url: string;
  token: string;
  pid: number;
}

/**
 * Queue operations (admin API, one instance):
 *   POST /v1/queue/hold | release | delete | requeue | flush   body: QueueSelection -> QueueActionResult
 * hold: durable, no attempts until release. release: back to the queue, due now.
 * delete: drops the message without any DSN (like postsuper -d), durable.
 * requeue: due now and routed afresh with the current config (like postsuper -r).
 * flush: due now (like postqueue -f).
 * Held messages are left alone by requeue and flush. A message being delivered finishes its
 * attempt first (its results are recorded), then it is held, deleted or made due now.
 */
export type QueueAction = "hold" | "release" | "delete" | "requeue" | "flush";

export const QUEUE_ACTIONS: readonly QueueAction[] = ["hold", "release", "delete", "requeue", "flush"];

/** Queue ids (at most MAX_SELECTION_IDS per request), or every message of the queue. */
export type QueueSelection = { ids: string[] } | { all: true };

export const MAX_SELECTION_IDS = 10_000;

export interface QueueActionResult {
  instance: string;
  action: QueueAction;
  /** Messages the action applied to (holding a held message, releasing one that is not held... don't count). */
  affected: number;
  /** Requested ids not in this instance's queue. */
  missing: string[];
}

/**
 * `queue summary` (GET /v1/queue/summary), like Postfix's qshape: pending recipients per
 * recipient domain (held mail included), counted by the age of their message in minutes.
 */
export interface QueueSummary {
  instance: string;
  /**
   * One per bucket: the bucket's upper bound in minutes ("5" = 0 to 5 minutes old, "10" = 5 to 10),
   * the last one open-ended ("320+").
   */
  bucketLabels: string[];
  /** Sorted by total, largest first (then by domain). */
  rows: { domain: string; total: number; counts: number[] }[];
  totals: { total: number; counts: number[] };
}

/** An instance a fleet-wide CLI command could not ask (not running, or answering with an error). */
export interface UnreachableInstance {
  instance: string;
  reason: string;
}

/**
 * What the fleet-wide commands print with --json: `mailq` (T = QueueListing), `queue summary`
 * (QueueSummary), and the queue actions (QueueActionResult, plus the ids no instance had).
 */
export interface FleetReport<T> {
  instances: T[];
  unreachable: UnreachableInstance[];
}

export interface FleetActionReport extends FleetReport<QueueActionResult> {
  /** Requested ids that no reachable instance had. */
  notFound: string[];
}
