/**
 * Suppression list endpoints (src/feedback/suppression.ts), one instance's list:
 *   GET  /v1/suppression[?tenant=T]  the entries, all tenants or one ("-": mail without a tenant)
 *   POST /v1/suppression/add         {tenant, address, detail?}: suppress (reason "manual")
 *   POST /v1/suppression/remove      {tenant, address}: lift the suppression
 * Bodies are validated strictly (an address, a tenant name or null); bad input is a 400.
 */
import { z } from "zod";
import type {
  SuppressionChange,
  SuppressionChangeResult,
  SuppressionEntryView,
  SuppressionListing,
} from "../api-types/feedback.ts";
import { isEmailAddress } from "../config/values.ts";
import { tenantName } from "../feedback/tenant.ts";
import type { SuppressionEntry, SuppressionList } from "../feedback/types.ts";
import { type Endpoint, HttpError, ok, readJsonBody } from "./http.ts";

const MAX_BODY_BYTES = 8 * 1024;

const changeSchema = z.strictObject({
  tenant: z.union([
    z.null(),
    z.string().refine((t) => tenantName(t) !== null, {
      message: "expected a tenant name (letters, digits, '.', '_', '@', '+' and '-'), or null",
    }),
  ]),
  address: z.string().refine((a) => isEmailAddress(a.trim()), { message: "expected an email address" }),
  detail: z.string().max(1000).optional(),
});

export function entryView(entry: SuppressionEntry): SuppressionEntryView {
  return { ...entry, addedAt: new Date(entry.addedAt).toISOString() };
}

export function suppressionListEndpoint(instance: string, list: SuppressionList): Endpoint {
  return (req) => {
    const tenant = new URL(req.url ?? "/", "http://admin").searchParams.get("tenant");
    let entries: SuppressionEntry[];
    if (tenant === null) entries = list.list();
    else if (tenant === "-") entries = list.list(null);
    else {
      const name = tenantName(tenant);
      if (name === null) throw new HttpError(400, "tenant: expected a tenant name, or - for none");
      entries = list.list(name);
    }
    const listing: SuppressionListing = { instance, entries: entries.map(entryView) };
    return ok(listing);
  };
}

async function readChange(req: Parameters<Endpoint>[0]): Promise<SuppressionChange> {
  const parsed = changeSchema.safeParse(await readJsonBody(req, MAX_BODY_BYTES));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    throw new HttpError(400, `${where}${issue?.message ?? "invalid body"}`);
  }
  const { tenant, address, detail } = parsed.data;
  return {
    tenant: tenant === null ? null : tenantName(tenant),
    address: address.trim(),
    ...(detail ? { detail } : {}),
  };
}

export function suppressionChangeEndpoint(
  instance: string,
  list: SuppressionList,
  change: "add" | "remove",
  now: () => number = Date.now,
): Endpoint {
  return async (req) => {
    const body = await readChange(req);
    let changed: boolean;
    if (change === "add") {
      changed = !list.has(body.tenant, body.address);
      await list.add({
        tenant: body.tenant,
        address: body.address,
        reason: "manual",
        addedAt: now(),
        detail: body.detail ?? "",
      });
    } else changed = await list.remove(body.tenant, body.address);
    const result: SuppressionChangeResult = { instance, changed };
    return ok(result);
  };
}
