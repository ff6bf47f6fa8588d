/**
 * `mailfleet reputation [--ip IP | --tenant T | --provider P] [--json] [--instance NAME]`: the
 * reputation counters of every running instance (or the one named): delivered, deferred,
 * bounced by class and complaints per source IP, tenant and provider over 1 h / 24 h / 7 d.
 */
import { parseArgs } from "node:util";
import type { ReputationCounts, ReputationReport } from "../api-types/feedback.ts";
import type { BackoffListing } from "../reputation/backoff.ts";
import { adminCall, adminCallEach, printFleetReport, selectInstances } from "./admin-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { FLEET_REPORT_OPTIONS } from "./fleet-options.ts";
import { loadFleetOrExit } from "./load-config.ts";
import { formatBackoffSection, withBackoff } from "./reputation-backoff.ts";
import { formatIsolation } from "./tenant.ts";

export const REPUTATION_USAGE =
  "mailfleet reputation [--ip IP | --tenant T | --provider P] [--instance NAME] [-c FILE] [--json]";

export async function runReputation(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...FLEET_REPORT_OPTIONS,
      ip: { type: "string" },
      tenant: { type: "string" },
      provider: { type: "string" },
    },
  });
  if (positionals.length > 0) throw new CliError(`usage: ${REPUTATION_USAGE}`, EXIT.usage);
  const query = new URLSearchParams();
  for (const key of ["ip", "tenant", "provider"] as const) {
    const value = values[key];
    if (value !== undefined) query.set(key, value);
  }
  const path = `/v1/reputation${query.size > 0 ? `?${query}` : ""}`;
  const instances = selectInstances(loadFleetOrExit(values.config), values.instance);
  const answers = await adminCallEach(instances, (c) =>
    withBackoff(c, adminCall<ReputationReport>(c, "GET", path)),
  );
  const describe = (r: ReputationReport & { backoff?: BackoffListing }) =>
    `${formatReputation(r)}${r.isolation ? `\n${formatIsolation(r.isolation)}` : ""}${formatBackoffSection(r.backoff)}`;
  return printFleetReport(answers, describe, values.json === true);
}

function cell(c: ReputationCounts): string {
  const classes = Object.entries(c.bouncedByClass)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return `${c.delivered}/${c.deferred}/${c.bounced}${classes ? `(${classes})` : ""}/${c.complaints}`;
}

/** One line per IP, tenant and provider: delivered/deferred/bounced(by class)/complaints per window. */
export function formatReputation(report: ReputationReport): string {
  if (report.rows.length === 0) return "(no mail counted in the last 7 days)";
  const rows = [
    ["", "", "1h", "24h", "7d"],
    ...report.rows.map((r) => [
      r.dimension,
      r.key,
      cell(r.windows["1h"]),
      cell(r.windows["24h"]),
      cell(r.windows["7d"]),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
  return [...lines, "(delivered/deferred/bounced(by class)/complaints)"].join("\n");
}
