/**
 * GET /v1/sources: the source selector's health table as the API type (times as ISO 8601), so
 * an operator sees at once which source IP is held back, why, and until when.
 */
import type { SourcesListing } from "../api-types/sources.ts";
import type { SourceHealth } from "../delivery/pool.ts";

export function sourcesListing(health: SourceHealth[]): SourcesListing {
  return {
    sources: health.map((s) => ({
      name: s.name,
      address: s.address,
      healthy: s.healthy,
      reason: s.reason,
      until: s.until === null ? null : new Date(s.until).toISOString(),
    })),
  };
}
