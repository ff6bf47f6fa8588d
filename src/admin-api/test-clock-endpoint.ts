/**
 * POST /v1/test/clock {"advanceMs": N} -> {"now": ISO}: moves the instance's test clock forward
 * (see src/instance/clock.ts). Registered only when the instance runs with a test clock.
 */
import { type Endpoint, HttpError, ok, readJsonBody } from "./http.ts";

export function testClockEndpoint(advance: (ms: number) => number): Endpoint {
  return async (req) => {
    const body = (await readJsonBody(req, 1024)) as { advanceMs?: unknown } | null;
    const ms = body?.advanceMs;
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
      throw new HttpError(400, 'expected {"advanceMs": a number of milliseconds >= 0}');
    }
    return ok({ now: new Date(advance(ms)).toISOString() });
  };
}
