/**
 * `mailfleet warmup status [--json] [--instance NAME]`: the IP warm-up state of every running
 * instance (or the one named): per source IP and provider, the warm-up day, today's cap, how
 * many messages it carried today, how many remain, and whether it is warm (no cap any more).
 */
import { parseArgs } from "node:util";
import type { WarmupReport } from "../reputation/warmup.ts";
import { adminCall, adminCallEach, printFleetReport, selectInstances } from "./admin-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { FLEET_REPORT_OPTIONS } from "./fleet-options.ts";
import { loadFleetOrExit } from "./load-config.ts";

export const WARMUP_USAGE = "mailfleet warmup status [--instance NAME] [-c FILE] [--json]";

export async function runWarmup(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...FLEET_REPORT_OPTIONS },
  });
  if (positionals.length !== 1 || positionals[0] !== "status") {
    throw new CliError(`usage: ${WARMUP_USAGE}`, EXIT.usage);
  }
  const instances = selectInstances(loadFleetOrExit(values.config), values.instance);
  const answers = await adminCallEach(instances, (c) => adminCall<WarmupReport>(c, "GET", "/v1/warmup"));
  return printFleetReport(answers, formatWarmup, values.json);
}

/** One line per source IP x provider with a schedule. */
export function formatWarmup(report: WarmupReport): string {
  if (report.rows.length === 0) return "(no source has a warm-up schedule)";
  const rows = [
    ["source", "address", "provider", "day", "cap", "used", "remaining", "state"],
    ...report.rows.map((r) => [
      r.source,
      r.address,
      r.provider,
      String(r.day),
      r.cap === null ? "-" : String(r.cap),
      String(r.used),
      r.remaining === null ? "-" : String(r.remaining),
      r.warm ? "warm" : r.day < 1 ? "not started" : `warming (overflow: ${r.overflow})`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
  return [...lines, `(UTC day ${report.now.slice(0, 10)}; caps reset at ${report.nextDay})`].join("\n");
}
