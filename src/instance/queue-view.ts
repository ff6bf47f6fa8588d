/**
 * The instance's queue as the admin API shows it: the `mailq` listing and the qshape-like summary
 * built from the scheduler's entries, and the queue actions dispatched to the scheduler (logged,
 * since they change or drop mail at an operator's request).
 */
import type { Logger } from "pino";
import type { AdminHandlers } from "../admin-api/server.ts";
import type { QueueAction, QueueListing, QueueMessageView, QueueSelection } from "../api-types/queue.ts";
import type { QueueOpResult } from "../scheduler/queue-ops.ts";
import type { QueueEntry, Scheduler } from "../scheduler/scheduler.ts";
import { queueSummary } from "./queue-summary.ts";

export function queueListing(
  instance: string,
  entries: QueueEntry[],
  limit: number | null = null,
): QueueListing {
  const oldest = limit === null ? [...entries].sort(byArrival) : oldestEntries(entries, limit);
  const messages: QueueMessageView[] = oldest.map(({ message, active }) => ({
    id: message.id,
    size: message.size,
    arrivedAt: new Date(message.arrivedAt).toISOString(),
    sender: message.sender,
    active,
    held: message.held,
    attempts: message.deferral?.attempts ?? 0,
    nextAttemptAt: message.deferral ? new Date(message.deferral.nextAttemptAt).toISOString() : null,
    recipients: message.recipients.map((r, index) => ({
      address: r.address,
      state: r.state,
      lastReason: r.state === "pending" ? (message.deferral?.reasons[index] ?? null) : null,
    })),
  }));
  return { instance, total: entries.length, messages };
}

function byArrival(a: QueueEntry, b: QueueEntry): number {
  const x = a.message;
  const y = b.message;
  return x.arrivedAt - y.arrivedAt || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
}

/** The `limit` oldest entries, sorted: one pass, keeping a sorted window of at most `limit`. */
function oldestEntries(entries: QueueEntry[], limit: number): QueueEntry[] {
  const kept: QueueEntry[] = [];
  for (const entry of entries) {
    if (kept.length === limit && (limit === 0 || byArrival(entry, kept[limit - 1]!) >= 0)) continue;
    // Binary search for the insertion point: the window is small next to the queue.
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byArrival(kept[mid]!, entry) <= 0) lo = mid + 1;
      else hi = mid;
    }
    kept.splice(lo, 0, entry);
    if (kept.length > limit) kept.pop();
  }
  return kept;
}

/** The queue part of the admin API handlers of one instance. */
export function queueHandlers(
  instance: string,
  scheduler: Scheduler,
  logger: Logger,
  now: () => number = Date.now,
): Pick<AdminHandlers, "queue" | "queueSummary" | "queueAction"> {
  const actions: Record<QueueAction, (selection: QueueSelection) => Promise<QueueOpResult>> = {
    hold: (s) => scheduler.hold(s),
    release: (s) => scheduler.release(s),
    delete: (s) => scheduler.delete(s),
    requeue: (s) => scheduler.requeue(s),
    flush: (s) => scheduler.flush(s),
  };
  return {
    queue: (limit) => queueListing(instance, scheduler.entries(), limit),
    queueSummary: () =>
      queueSummary(
        instance,
        scheduler.entries().map((e) => e.message),
        now(),
      ),
    async queueAction(action, selection) {
      const { affected, missing } = await actions[action](selection);
      logger.info(
        {
          action,
          all: "all" in selection,
          requested: "ids" in selection ? selection.ids.length : null,
          affected,
        },
        "queue action by operator",
      );
      return { instance, action, affected, missing };
    },
  };
}
