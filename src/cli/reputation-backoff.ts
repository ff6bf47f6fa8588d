/**
 * The `backoff` part of `mailfleet reputation` (and of `route explain`): each instance's source
 * IP x site pairs under adaptive backoff (GET /v1/backoff, src/reputation/backoff.ts), fetched
 * beside the reputation report and printed as its own section. An instance without the endpoint
 * (an older one) simply shows no section.
 */
import type { Config } from "../config/types.ts";
import { type BackoffListing, describeBackoff } from "../reputation/backoff.ts";
import { type AdminResult, adminCall } from "./admin-client.ts";

/** Adds `backoff` (when the instance has the endpoint) to an answered report. */
export async function withBackoff<T extends object>(
  config: Config,
  report: Promise<AdminResult<T>>,
): Promise<AdminResult<T & { backoff?: BackoffListing }>> {
  const [answer, backoff] = await Promise.all([
    report,
    adminCall<BackoffListing>(config, "GET", "/v1/backoff"),
  ]);
  if (!answer.ok || !backoff.ok) return answer;
  return { ok: true, value: { ...answer.value, backoff: backoff.value } };
}

/** "backoff: none" or one line per source IP x site. */
export function formatBackoffSection(listing: BackoffListing | undefined): string {
  if (listing === undefined) return "";
  if (listing.entries.length === 0) return "\nbackoff: no source IP x site suspended or slowed";
  const lines = listing.entries.map((e) => `  ${e.source} -> ${e.site}: ${describeBackoff(e)}`);
  return `\nbackoff (source IP -> site):\n${lines.join("\n")}`;
}
