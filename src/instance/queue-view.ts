/**
 * Builds the `mailq` view of an instance's queue from the scheduler's entries.
 */
import type { QueueListing, QueueMessageView } from "../api-types/queue.ts";
import type { QueueEntry } from "../scheduler/scheduler.ts";

export function queueListing(instance: string, entries: QueueEntry[]): QueueListing {
  const messages: QueueMessageView[] = entries
    .map(({ message, active }) => ({
      id: message.id,
      size: message.size,
      arrivedAt: new Date(message.arrivedAt).toISOString(),
      sender: message.sender,
      active,
      attempts: message.deferral?.attempts ?? 0,
      nextAttemptAt: message.deferral ? new Date(message.deferral.nextAttemptAt).toISOString() : null,
      recipients: message.recipients.map((r, index) => ({
        address: r.address,
        state: r.state,
        lastReason: r.state === "pending" ? (message.deferral?.reasons[index] ?? null) : null,
      })),
    }))
    .sort((a, b) => (a.arrivedAt < b.arrivedAt ? -1 : a.arrivedAt > b.arrivedAt ? 1 : a.id < b.id ? -1 : 1));
  return { instance, total: messages.length, messages };
}
