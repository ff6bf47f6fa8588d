/**
 * Automatic isolation of tenants (src/reputation/isolation.ts), one instance:
 *   GET  /v1/isolation          IsolationView: thresholds, isolated tenants, recent events
 *   POST /v1/isolation/release  {tenant}: back on its routes' pools (durable, logged)
 */
import { z } from "zod";
import { tenantName } from "../feedback/tenant.ts";
import type { TenantIsolation } from "../reputation/isolation.ts";
import type { IsolationReleaseResult } from "../reputation/isolation-types.ts";
import { type Endpoint, HttpError, ok, readJsonBody } from "./http.ts";

const MAX_BODY_BYTES = 4 * 1024;

const releaseSchema = z.strictObject({
  tenant: z.string().refine((t) => tenantName(t) !== null, { message: "expected a tenant name" }),
});

export function isolationViewEndpoint(isolation: TenantIsolation): Endpoint {
  return () => ok(isolation.view());
}

export function isolationReleaseEndpoint(instance: string, isolation: TenantIsolation): Endpoint {
  return async (req) => {
    const parsed = releaseSchema.safeParse(await readJsonBody(req, MAX_BODY_BYTES));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
      throw new HttpError(400, `${where}${issue?.message ?? "invalid body"}`);
    }
    const tenant = tenantName(parsed.data.tenant)!;
    const result: IsolationReleaseResult = { instance, tenant, released: await isolation.release(tenant) };
    return ok(result);
  };
}
