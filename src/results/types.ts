/**
 * Seam between the scheduler and the results stage. The scheduler decides *what happened*
 * (outcomes, expiry); the results stage makes it durable and visible: spool updates, DSNs,
 * delivery log lines.
 */

import type { FailureScope, RecipientOutcome, RelayInfo, Reply } from "../message/types.ts";
import type { QueuedMessage } from "../spool/types.ts";

/** A recipient that failed for good in this attempt round. */
export interface FinalFailure {
  index: number;
  kind: "bounced" | "expired";
  reply: Reply;
  remoteMta: string | null;
  /** Who is to blame (bounces: from the outcome); absent: "recipient". */
  scope?: FailureScope;
  /** Where the failing attempt went (bounces); absent or null: no connection was made. */
  relay?: RelayInfo | null;
}

/** A recipient still pending when the delay warning falls due, with its last deferral. */
export interface DelayedRecipient {
  index: number;
  reply: Reply;
  remoteMta: string | null;
}

export interface ResultRecorder {
  /**
   * Logs each outcome of one delivery job and durably records its delivered recipients. A
   * recipient with NOTIFY=SUCCESS relayed to a next hop without DSN gets a "relayed" DSN
   * (RFC 3461 5.2.2), queued before the recipients are marked; it is returned for scheduling.
   */
  jobFinished(
    message: QueuedMessage,
    outcomes: RecipientOutcome[],
    nextAttemptAt: number,
  ): Promise<QueuedMessage | null>;
  /**
   * Ends an attempt round: queues one DSN covering every failure (before marking them, so a
   * crash can only repeat a DSN, never lose one), then records the failures durably.
   * Returns the queued DSN so the scheduler can schedule it.
   */
  roundFinished(message: QueuedMessage, failures: FinalFailure[]): Promise<QueuedMessage | null>;
  /**
   * Queues the one delay warning of a message that has been waiting too long, covering the
   * pending recipients whose NOTIFY explicitly asks for DELAY. Returns the queued DSN, or null
   * when nobody asked for one.
   */
  delayWarning(
    message: QueuedMessage,
    delayed: DelayedRecipient[],
    willRetryUntil: number,
  ): Promise<QueuedMessage | null>;
}
