/**
 * GET /v1/sources: source IPs and their health (SourcesListing; built by sources-view.ts).
 */
import type { SourcesListing } from "../api-types/sources.ts";
import { type Endpoint, ok } from "./http.ts";

export function sourcesEndpoint(sources: () => SourcesListing): Endpoint {
  return () => ok(sources());
}
