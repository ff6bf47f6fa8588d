/**
 * `mailfleet suppression add|remove ADDRESS [--tenant T]` and `mailfleet suppression list
 * [ADDRESS] [--tenant T]`: the per-tenant suppression lists of every running instance (or the one
 * --instance names), through the admin API. Without --tenant, add and remove work on the list of
 * mail without a tenant, and list shows every tenant's entries ("--tenant -": only untenanted).
 * Each instance keeps its own list (hard bounces are recorded where they happen), so add and
 * remove go to every selected instance.
 */
import { parseArgs } from "node:util";
import type {
  SuppressionChange,
  SuppressionChangeResult,
  SuppressionEntryView,
  SuppressionListing,
} from "../api-types/feedback.ts";
import type { Config } from "../config/types.ts";
import { isEmailAddress } from "../config/values.ts";
import { tenantName } from "../feedback/tenant.ts";
import { adminCall, adminCallEach, fleetReport, printFleetReport, selectInstances } from "./admin-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { FLEET_REPORT_OPTIONS } from "./fleet-options.ts";
import { loadFleetOrExit } from "./load-config.ts";

export const SUPPRESSION_USAGE = [
  "mailfleet suppression add|remove ADDRESS [--tenant T] [--note TEXT] [--instance NAME] [-c FILE] [--json]",
  "       mailfleet suppression list [ADDRESS] [--tenant T|-] [--instance NAME] [-c FILE] [--json]",
].join("\n");

export async function runSuppression(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...FLEET_REPORT_OPTIONS, tenant: { type: "string" }, note: { type: "string" } },
  });
  const [verb, address, ...extra] = positionals;
  if (extra.length > 0 || (verb !== "add" && verb !== "remove" && verb !== "list")) {
    throw new CliError(`usage: ${SUPPRESSION_USAGE}`, EXIT.usage);
  }
  if (address !== undefined && !isEmailAddress(address)) {
    throw new CliError(`not an email address: ${address}`, EXIT.usage);
  }
  const tenant = parseTenant(values.tenant, verb === "list");
  const instances = selectInstances(loadFleetOrExit(values.config), values.instance);
  if (verb === "list") return list(instances, tenant, address, values.json);
  if (address === undefined)
    throw new CliError(`give the address to ${verb}\nusage: ${SUPPRESSION_USAGE}`, EXIT.usage);
  const change: SuppressionChange = {
    tenant: tenant === undefined || tenant === "-" ? null : tenant,
    address,
    ...(values.note !== undefined ? { detail: values.note } : {}),
  };
  const answers = await adminCallEach(instances, (c) =>
    adminCall<SuppressionChangeResult>(c, "POST", `/v1/suppression/${verb}`, change),
  );
  const whose = change.tenant === null ? "mail without a tenant" : `tenant ${change.tenant}`;
  const did = verb === "add" ? "suppressed" : "no longer suppressed";
  const same = verb === "add" ? "already suppressed" : "was not suppressed";
  const describe = (r: SuppressionChangeResult) => `${address} ${r.changed ? did : same} for ${whose}`;
  return printFleetReport(answers, describe, values.json === true, "lines");
}

/** A tenant name; "-" (list only) = mail without a tenant; undefined = not given. */
function parseTenant(value: string | undefined, listing: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (value === "-" && listing) return "-";
  const name = tenantName(value);
  if (name === null) throw new CliError(`not a tenant name: ${value}`, EXIT.usage);
  return name;
}

async function list(
  instances: Config[],
  tenant: string | undefined,
  address: string | undefined,
  json: boolean,
): Promise<number> {
  const path = `/v1/suppression${tenant === undefined ? "" : `?tenant=${encodeURIComponent(tenant)}`}`;
  const answers = await adminCallEach(instances, (c) => adminCall<SuppressionListing>(c, "GET", path));
  const wanted = address?.toLowerCase();
  const filtered = answers.map(({ instance, result }) => ({
    instance,
    result: result.ok
      ? {
          ...result,
          value: {
            ...result.value,
            entries: result.value.entries.filter((e) => wanted === undefined || e.address === wanted),
          },
        }
      : result,
  }));
  const { report, text } = fleetReport(filtered, (l) => formatEntries(l.entries));
  console.log(json ? JSON.stringify(report, null, 2) : text);
  if (report.instances.length === 0) return EXIT.unavailable;
  // `list ADDRESS` answers "is it suppressed?": no entry anywhere is EX_NOINPUT.
  if (wanted !== undefined && report.instances.every((r) => r.entries.length === 0)) return EXIT.noInput;
  return EXIT.ok;
}

export function formatEntries(entries: SuppressionEntryView[]): string {
  if (entries.length === 0) return "(no suppressed addresses)";
  return entries
    .map((e) =>
      [e.tenant ?? "-", e.address, e.reason, e.addedAt, e.detail === "" ? "" : JSON.stringify(e.detail)]
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
