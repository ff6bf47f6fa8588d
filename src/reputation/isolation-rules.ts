/**
 * The threshold arithmetic of automatic isolation, pure: from one tenant's counts over the
 * configured window to a verdict ("why it must be isolated") or null.
 *
 *   volume          = delivered + bounced (mail that got an answer); below min_messages: no verdict
 *   complaint rate  = complaints / delivered                       (strictly above the threshold)
 *   hard-bounce rate= bounces of class invalid_recipient / volume  (strictly above the threshold)
 *   blocklist       = bounces of class reputation                  (at or above the count)
 */
import type { ReputationCounts } from "../api-types/feedback.ts";
import type { IsolationConfig } from "../config/schema-reputation.ts";

/** 0.032 -> "3.2%", 0.003 -> "0.3%". */
export function percent(rate: number): string {
  return `${Number((rate * 100).toFixed(2))}%`;
}

export function isolationVerdict(counts: ReputationCounts, config: IsolationConfig): string | null {
  const volume = counts.delivered + counts.bounced;
  if (volume < config.minMessages) return null;
  const over = `over ${config.window}`;
  if (config.complaintRate !== null && counts.delivered > 0) {
    const rate = counts.complaints / counts.delivered;
    if (rate > config.complaintRate)
      return `complaint rate ${percent(rate)} > ${percent(config.complaintRate)} ${over} (n=${counts.delivered})`;
  }
  if (config.hardBounceRate !== null) {
    const hard = counts.bouncedByClass.invalid_recipient ?? 0;
    const rate = hard / volume;
    if (rate > config.hardBounceRate)
      return `hard-bounce rate ${percent(rate)} > ${percent(config.hardBounceRate)} ${over} (n=${volume})`;
  }
  if (config.blocklistReplies !== null) {
    const replies = counts.bouncedByClass.reputation ?? 0;
    if (replies >= config.blocklistReplies)
      return `blocklist replies ${replies} >= ${config.blocklistReplies} ${over} (n=${volume})`;
  }
  return null;
}
