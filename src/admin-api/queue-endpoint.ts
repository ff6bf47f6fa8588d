/**
 * GET /v1/queue: the instance's queue as `mailq` shows it (QueueListing).
 */
import type { QueueListing } from "../api-types/queue.ts";
import { type Endpoint, ok } from "./http.ts";

export function queueEndpoint(listing: () => QueueListing): Endpoint {
  return () => ok(listing());
}
