/**
 * `mailfleet status [--json]`: the supervisor and every instance (state, pid, uptime, listeners,
 * queue size), from the control API.
 */
import { parseArgs } from "node:util";
import type { FleetStatus } from "../api-types/fleet.ts";
import { controlRequest } from "./control-client.ts";
import { EXIT } from "./exit-codes.ts";
import { formatFleetTable, formatUptime } from "./fleet-table.ts";
import { loadFleetOrExit } from "./load-config.ts";

export async function runStatus(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: "string", short: "c" }, json: { type: "boolean" } },
  });
  const fleet = loadFleetOrExit(values.config);
  const status = await controlRequest<FleetStatus>(fleet, "GET", "/v1/status");
  if (values.json) {
    console.log(JSON.stringify(status, null, 2));
    return EXIT.ok;
  }
  const up = formatUptime((Date.now() - Date.parse(status.startedAt)) / 1000);
  console.log(`supervisor pid ${status.pid}, up ${up}, config ${status.configSource}\n`);
  console.log(formatFleetTable(status.instances));
  return EXIT.ok;
}
