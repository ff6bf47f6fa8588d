/**
 * GET /v1/queue/summary: pending recipients per domain by age bucket, like qshape (QueueSummary).
 */
import type { QueueSummary } from "../api-types/queue.ts";
import { type Endpoint, ok } from "./http.ts";

export function queueSummaryEndpoint(summary: () => QueueSummary): Endpoint {
  return () => ok(summary());
}
