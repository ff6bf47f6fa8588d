/**
 * Turns what the results stage records (delivery outcomes, expiries) into counter events and
 * attribution records. The results stage calls `FeedbackSink` and knows nothing else of
 * feedback; the provider of a destination is the registrable part of the MX host that answered
 * ("gmail-smtp-in.l.google.com" -> "google.com"), or the recipient's domain when no host did.
 */
import type { RecipientOutcome, Reply } from "../message/types.ts";
import type { QueuedMessage } from "../spool/types.ts";
import type { AttributionStore } from "./attribution.ts";
import type { Counters } from "./counters.ts";
import type { BounceClass } from "./types.ts";

export interface FeedbackSink {
  outcomes(message: QueuedMessage, outcomes: RecipientOutcome[]): void;
  /** Recipients whose lifetime ran out (bounced by us, class of the last error). */
  expired(message: QueuedMessage, failures: { index: number; reply: Reply }[]): void;
}

/** Second-level labels under which registrations sit one level deeper (co.uk, com.au...). */
const SECOND_LEVEL = new Set(["co", "com", "net", "org", "ac", "gov", "edu", "ne", "or"]);

export function providerOf(host: string | null, recipient: string | null): string | null {
  const name = (host ?? recipient?.slice(recipient.lastIndexOf("@") + 1) ?? "")
    .toLowerCase()
    .replace(/\.$/, "");
  if (name === "" || /^[\d.]+$|:/.test(name)) return name || null;
  const labels = name.split(".");
  const keep = labels.length >= 3 && labels.at(-1)!.length === 2 && SECOND_LEVEL.has(labels.at(-2)!) ? 3 : 2;
  return labels.slice(-keep).join(".");
}

/** The tenant of a message, once the tenants helper put one on it. */
export function tenantOf(message: object): string | null {
  const t = (message as { tenant?: unknown }).tenant;
  return typeof t === "string" && t !== "" ? t : null;
}

export function createFeedbackSink(deps: {
  counters: Counters;
  attribution: AttributionStore | null;
  classify: (reply: Reply) => BounceClass;
  now?: () => number;
}): FeedbackSink {
  const now = deps.now ?? Date.now;
  return {
    outcomes(message, outcomes) {
      const tenant = tenantOf(message);
      const at = now();
      if (tenant !== null && message.sender !== "") deps.attribution?.recordTenant(message.id, tenant, at);
      for (const o of outcomes) {
        const recipient = message.recipients[o.recipientIndex]?.address ?? null;
        const base = {
          tenant,
          sourceIp: o.relay?.sourceIp ?? null,
          provider: providerOf(o.relay?.host ?? null, recipient),
          at,
        };
        if (o.kind === "delivered") deps.counters.record({ kind: "delivered", ...base });
        else deps.counters.record({ kind: o.kind, ...base, bounceClass: deps.classify(o.reply) });
      }
    },
    expired(message, failures) {
      const tenant = tenantOf(message);
      for (const f of failures) {
        const recipient = message.recipients[f.index]?.address ?? null;
        deps.counters.record({
          kind: "bounced",
          tenant,
          sourceIp: null,
          provider: providerOf(null, recipient),
          bounceClass: deps.classify(f.reply),
          at: now(),
        });
      }
    },
  };
}
