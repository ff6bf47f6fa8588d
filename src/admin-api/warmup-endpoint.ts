/**
 * GET /v1/warmup: the warm-up state of every source IP x provider with a schedule: day, today's
 * cap, used, remaining, warm (WarmupReport; built by src/reputation/warmup.ts).
 */
import type { WarmupReport } from "../reputation/warmup.ts";
import { type Endpoint, ok } from "./http.ts";

export function warmupEndpoint(report: () => WarmupReport): Endpoint {
  return () => ok(report());
}
