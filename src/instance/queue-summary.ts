/**
 * `mailfleet queue summary`, like Postfix's qshape: how many recipients are still pending per
 * recipient domain, counted by how long their message has been queued. Pure (the time is given),
 * so the buckets and the ordering are tested without a running instance.
 */
import type { QueueSummary } from "../api-types/queue.ts";
import type { QueuedMessage } from "../spool/types.ts";

/** Upper bounds of the age buckets in minutes; one more, open-ended bucket follows the last. */
export const AGE_BUCKETS_MINUTES = [5, 10, 20, 40, 80, 160, 320] as const;

const LABELS = [...AGE_BUCKETS_MINUTES.map(String), `${AGE_BUCKETS_MINUTES.at(-1)}+`];

/** The bucket of a message `ageMs` old: [0, 5) minutes -> 0, ..., 320 minutes and more -> last. */
export function ageBucket(ageMs: number): number {
  const minutes = ageMs / 60_000;
  const i = AGE_BUCKETS_MINUTES.findIndex((bound) => minutes < bound);
  return i === -1 ? AGE_BUCKETS_MINUTES.length : i;
}

/** Domain part of an address, lower-case; "(none)" for an address without one. */
function domainOf(address: string): string {
  const at = address.lastIndexOf("@");
  const domain =
    at < 0
      ? ""
      : address
          .slice(at + 1)
          .toLowerCase()
          .replace(/\.$/, "");
  return domain === "" ? "(none)" : domain;
}

export function queueSummary(
  instance: string,
  messages: Iterable<Pick<QueuedMessage, "arrivedAt" | "recipients">>,
  now: number,
): QueueSummary {
  const width = LABELS.length;
  const byDomain = new Map<string, number[]>();
  const totals = new Array<number>(width).fill(0);
  for (const message of messages) {
    const bucket = ageBucket(Math.max(0, now - message.arrivedAt));
    for (const recipient of message.recipients) {
      if (recipient.state !== "pending") continue;
      const domain = domainOf(recipient.address);
      let counts = byDomain.get(domain);
      if (counts === undefined) {
        counts = new Array<number>(width).fill(0);
        byDomain.set(domain, counts);
      }
      counts[bucket]! += 1;
      totals[bucket]! += 1;
    }
  }
  const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0);
  const rows = [...byDomain]
    .map(([domain, counts]) => ({ domain, total: sum(counts), counts }))
    .sort((a, b) => b.total - a.total || (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  return { instance, bucketLabels: [...LABELS], rows, totals: { total: sum(totals), counts: totals } };
}
