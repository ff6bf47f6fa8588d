/**
 * GET /v1/reputation[?ip=IP][&tenant=T][&provider=P]: the reputation counters (ReputationReport)
 * over 1 h / 24 h / 7 d, optionally only one IP, tenant or provider.
 */
import type { ReputationReport } from "../api-types/feedback.ts";
import { type Endpoint, HttpError, ok } from "./http.ts";

export type ReputationFilter = { ip?: string; tenant?: string; provider?: string };

export function reputationEndpoint(report: (filter: ReputationFilter) => ReputationReport): Endpoint {
  return (req) => {
    const query = new URL(req.url ?? "/", "http://admin").searchParams;
    const filter: ReputationFilter = {};
    for (const key of ["ip", "tenant", "provider"] as const) {
      const value = query.get(key);
      if (value === null) continue;
      if (value === "" || value.length > 256) throw new HttpError(400, `${key}: expected a non-empty value`);
      filter[key] = value;
    }
    return ok(report(filter));
  };
}
