/**
 * Seam between the scheduler and the results stage. The scheduler decides *what happened*
 * (outcomes, expiry); the results stage makes it durable and visible: spool updates, DSNs,
 * delivery log lines.
 */

import type { RecipientOutcome, Reply } from "../message/types.ts";
import type { QueuedMessage } from "../spool/types.ts";

/** A recipient that failed for good in this attempt round. */
export interface FinalFailure {
  index: number;
  kind: "bounced" | "expired";
  reply: Reply;
  remoteMta: string | null;
}

export interface ResultRecorder {
  /** Logs each outcome of one delivery job and durably records its delivered recipients. */
  jobFinished(message: QueuedMessage, outcomes: RecipientOutcome[], nextAttemptAt: number): Promise<void>;
  /**
   * Ends an attempt round: queues one DSN covering every failure (before marking them, so a
   * crash can only repeat a DSN, never lose one), then records the failures durably.
   * Returns the queued DSN so the scheduler can schedule it.
   */
  roundFinished(message: QueuedMessage, failures: FinalFailure[]): Promise<QueuedMessage | null>;
}
