/**
 * Types of `GET /v1/sources` on the admin API: the health of each configured source IP as the
 * running instance sees it. Shared by the admin API (which serves it) and the CLI
 * (`mailfleet route explain`, which shows it), so the two cannot drift apart.
 */

export interface SourceHealthView {
  /** Source name, the key under `sources:` in the config. */
  name: string;
  address: string;
  /** False while the source is held back (e.g. blocked by a destination, or failing to bind). */
  healthy: boolean;
  /** Why it is unhealthy; null when healthy. */
  reason: string | null;
  /** ISO 8601 time the hold ends, or null (healthy, or held until further notice). */
  until: string | null;
}

export interface SourcesListing {
  sources: SourceHealthView[];
}
