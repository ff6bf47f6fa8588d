/**
 * `mailfleet tenant release T [--instance NAME]`: ends the automatic isolation of tenant T on
 * every running instance (or the one named): its mail goes back to its routes' pools. `mailfleet
 * tenant list` shows the isolated tenants. Through the admin API (src/admin-api/isolation-endpoint.ts).
 */
import { parseArgs } from "node:util";
import type { FleetReport } from "../api-types/queue.ts";
import { tenantName } from "../feedback/tenant.ts";
import type { IsolationReleaseResult, IsolationView } from "../reputation/isolation-types.ts";
import { adminCall, adminCallEach, selectInstances } from "./admin-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { loadFleetOrExit } from "./load-config.ts";
import { heading } from "./mailq.ts";

export const TENANT_USAGE = [
  "mailfleet tenant release TENANT [--instance NAME] [-c FILE] [--json]",
  "       mailfleet tenant list [--instance NAME] [-c FILE] [--json]",
].join("\n");

export async function runTenant(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      instance: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const [verb, tenantArg, ...extra] = positionals;
  const usage = () => new CliError(`usage: ${TENANT_USAGE}`, EXIT.usage);
  if (extra.length > 0) throw usage();
  const instances = selectInstances(loadFleetOrExit(values.config), values.instance);
  if (verb === "list" && tenantArg === undefined) {
    const answers = await adminCallEach(instances, (c) =>
      adminCall<IsolationView>(c, "GET", "/v1/isolation"),
    );
    const report: FleetReport<IsolationView> = { instances: [], unreachable: [] };
    const sections: string[] = [];
    for (const { instance, result } of answers) {
      if (result.ok) {
        report.instances.push(result.value);
        sections.push(`${heading(instance)}\n${formatIsolation(result.value)}`);
      } else {
        report.unreachable.push({ instance, reason: result.reason });
        sections.push(`${heading(instance)} ${result.reason}`);
      }
    }
    console.log(values.json ? JSON.stringify(report, null, 2) : sections.join("\n\n"));
    return report.instances.length > 0 ? EXIT.ok : EXIT.unavailable;
  }
  if (verb !== "release" || tenantArg === undefined) throw usage();
  const tenant = tenantName(tenantArg);
  if (tenant === null) throw new CliError(`not a tenant name: ${tenantArg}`, EXIT.usage);
  const answers = await adminCallEach(instances, (c) =>
    adminCall<IsolationReleaseResult>(c, "POST", "/v1/isolation/release", { tenant }),
  );
  const report: FleetReport<IsolationReleaseResult> = { instances: [], unreachable: [] };
  const lines: string[] = [];
  for (const { instance, result } of answers) {
    if (result.ok) {
      report.instances.push(result.value);
      lines.push(
        `${instance}: tenant ${tenant} ${result.value.released ? "released from isolation" : "was not isolated"}`,
      );
    } else {
      report.unreachable.push({ instance, reason: result.reason });
      lines.push(`${instance}: ${result.reason}`);
    }
  }
  console.log(values.json ? JSON.stringify(report, null, 2) : lines.join("\n"));
  return report.instances.length > 0 ? EXIT.ok : EXIT.unavailable;
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
