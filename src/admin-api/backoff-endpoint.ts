/**
 * GET /v1/backoff: every source IP x site under adaptive backoff now, suspended or at a reduced
 * rate (BackoffListing, src/reputation/backoff.ts). Read by `mailfleet reputation` and
 * `mailfleet route explain`.
 */
import type { BackoffListing } from "../reputation/backoff.ts";
import { type Endpoint, ok } from "./http.ts";

export function backoffEndpoint(list: () => BackoffListing): Endpoint {
  return () => ok(list());
}
