/**
 * GET /v1/queue[?limit=N]: the instance's queue as `mailq` shows it (QueueListing), oldest first;
 * with `limit`, only the N oldest messages (the total still counts them all), so the first page
 * of a queue of a million costs one pass over it instead of a million listed messages.
 */
import type { QueueListing } from "../api-types/queue.ts";
import { type Endpoint, HttpError, ok } from "./http.ts";

export function queueEndpoint(listing: (limit: number | null) => QueueListing): Endpoint {
  return (req) => {
    const raw = new URL(req.url ?? "/", "http://admin").searchParams.get("limit");
    if (raw === null) return ok(listing(null));
    if (!/^\d{1,9}$/.test(raw)) throw new HttpError(400, "limit: expected a whole number of messages");
    return ok(listing(Number(raw)));
  };
}
