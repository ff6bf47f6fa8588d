/**
 * `mailfleet tenant release T [--instance NAME]`: ends the automatic isolation of tenant T on
 * every running instance (or the one named): its mail goes back to its routes' pools. `mailfleet
 * tenant list` shows the isolated tenants. Through the admin API (src/admin-api/isolation-endpoint.ts).
 */
import { parseArgs } from "node:util";
import { tenantName } from "../feedback/tenant.ts";
import type { IsolationReleaseResult, IsolationView } from "../reputation/isolation-types.ts";
import { adminCall, adminCallEach, printFleetReport, selectInstances } from "./admin-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { FLEET_REPORT_OPTIONS } from "./fleet-options.ts";
import { loadFleetOrExit } from "./load-config.ts";

export const TENANT_USAGE = [
  "mailfleet tenant release TENANT [--instance NAME] [-c FILE] [--json]",
  "       mailfleet tenant list [--instance NAME] [-c FILE] [--json]",
].join("\n");

export async function runTenant(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...FLEET_REPORT_OPTIONS },
  });
  const [verb, tenantArg, ...extra] = positionals;
  const usage = () => new CliError(`usage: ${TENANT_USAGE}`, EXIT.usage);
  if (extra.length > 0) throw usage();
  const instances = selectInstances(loadFleetOrExit(values.config), values.instance);
  if (verb === "list" && tenantArg === undefined) {
    const answers = await adminCallEach(instances, (c) =>
      adminCall<IsolationView>(c, "GET", "/v1/isolation"),
    );
    return printFleetReport(answers, formatIsolation, values.json === true);
  }
  if (verb !== "release" || tenantArg === undefined) throw usage();
  const tenant = tenantName(tenantArg);
  if (tenant === null) throw new CliError(`not a tenant name: ${tenantArg}`, EXIT.usage);
  const answers = await adminCallEach(instances, (c) =>
    adminCall<IsolationReleaseResult>(c, "POST", "/v1/isolation/release", { tenant }),
  );
  const released = (r: IsolationReleaseResult) =>
    `tenant ${tenant} ${r.released ? "released from isolation" : "was not isolated"}`;
  return printFleetReport(answers, released, values.json === true, "lines");
}

/** The isolation section of `mailfleet reputation` and `mailfleet tenant list`. */
export function formatIsolation(view: IsolationView): string {
  const lines = ["isolation:"];
  if (view.thresholds === null) lines.push("  (no reputation.isolation thresholds configured)");
  if (view.isolated.length === 0) lines.push("  no tenant isolated");
  for (const r of view.isolated) {
    const where = r.pool !== null ? `quarantine pool ${r.pool}` : "paused";
    lines.push(`  ${r.tenant}  ${where} since ${new Date(r.at).toISOString()}  (${r.reason})`);
  }
  for (const e of view.events.slice(-10)) {
    const detail = e.kind === "isolated" ? ` reason="${e.reason}"` : "";
    lines.push(`  ${new Date(e.at).toISOString()} ${e.kind} tenant=${e.tenant}${detail} action=${e.action}`);
  }
  return lines.join("\n");
}
