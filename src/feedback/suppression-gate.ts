/**
 * Where the suppression list refuses mail. At RCPT when the message's tenant is already known
 * then (AUTH user or sender domain come first in `tenants.from`); otherwise, when the tenant
 * depends on the header, at injection: a message whose every recipient is suppressed is refused
 * at the end of DATA, and the suppressed recipients of any other message are bounced at once
 * (with a DSN when NOTIFY asks), never tried.
 *
 * The reply is 550 5.7.1: permanent (resending cannot help until the operator removes the entry),
 * and "delivery not authorized" (RFC 3463 X.7.1) rather than 5.1.1, because the address may
 * well exist: it is our policy, not the receiver, that stops the mail.
 */
import type { NewMessage, Reply } from "../message/types.ts";
import { identifyTenant, type TenantsConfig } from "./tenant.ts";
import type { SuppressionEntry, SuppressionList } from "./types.ts";

export type SuppressionLookup = Pick<SuppressionList, "has"> & {
  get?(tenant: string | null, address: string): SuppressionEntry | null;
};

const REASON_TEXT: Record<SuppressionEntry["reason"], string> = {
  hard_bounce: "hard bounce",
  complaint: "complaint",
  manual: "added by the operator",
};

export function suppressedReply(entry: SuppressionEntry | null): Reply {
  const why =
    entry === null
      ? ""
      : ` (${REASON_TEXT[entry.reason]} on ${new Date(entry.addedAt).toISOString().slice(0, 10)})`;
  return { code: 550, enhanced: "5.7.1", text: `Recipient address suppressed${why}` };
}

function lookup(list: SuppressionLookup, tenant: string | null, address: string): Reply | null {
  if (!list.has(tenant, address)) return null;
  return suppressedReply(list.get?.(tenant, address) ?? null);
}

/** The RCPT check: a refusal, or null (also when the tenant is not known before DATA). */
export function checkRecipientAtRcpt(
  tenants: TenantsConfig,
  list: SuppressionLookup,
  facts: { user: string | null; sender: string; recipient: string },
): Reply | null {
  const tenant = identifyTenant(tenants, { user: facts.user, sender: facts.sender });
  if (tenant === undefined) return null;
  return lookup(list, tenant, facts.recipient);
}

export type InjectionVerdict =
  | { kind: "accept"; suppressed: { index: number; reply: Reply }[] }
  | { kind: "refuse"; reply: Reply };

/** The injection check, once the message (and so its tenant) is complete. */
export function checkMessageAtInjection(list: SuppressionLookup, message: NewMessage): InjectionVerdict {
  const suppressed: { index: number; reply: Reply }[] = [];
  for (const [index, recipient] of message.recipients.entries()) {
    const reply = lookup(list, message.tenant, recipient.address);
    if (reply !== null) suppressed.push({ index, reply });
  }
  if (suppressed.length > 0 && suppressed.length === message.recipients.length) {
    const first = suppressed[0]!.reply;
    const text =
      suppressed.length === 1 ? first.text : `All recipient addresses suppressed; first: ${first.text}`;
    return { kind: "refuse", reply: { ...first, text } };
  }
  return { kind: "accept", suppressed };
}
