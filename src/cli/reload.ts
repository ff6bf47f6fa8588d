/**
 * `mailfleet reload`: the supervisor re-reads the config and applies it (see
 * src/supervisor/reload-plan.ts); prints what it did. A refused file changes nothing.
 */
import { parseArgs } from "node:util";
import type { ReloadResult } from "../api-types/fleet.ts";
import { controlRequest } from "./control-client.ts";
import { EXIT } from "./exit-codes.ts";
import { loadFleetOrExit } from "./load-config.ts";

export async function runReload(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } } });
  const fleet = loadFleetOrExit(values.config);
  const result = await controlRequest<ReloadResult>(fleet, "POST", "/v1/reload");
  return printReloadResult(result);
}

/** One line of what changed, errors on stderr; the exit code for the result. */
export function printReloadResult(result: ReloadResult): number {
  const parts = (
    [
      ["started", result.started],
      ["stopped", result.stopped],
      ["restarted", result.restarted],
      ["reloaded", result.reloaded],
    ] as const
  )
    .filter(([, names]) => names.length > 0)
    .map(([what, names]) => `${what} ${names.join(", ")}`);
  for (const error of result.errors) console.error(`mailfleet: ${error}`);
  const acted = parts.length > 0;
  if (acted) console.error(`mailfleet: reload: ${parts.join("; ")}`);
  if (result.ok) {
    if (!acted) console.error("mailfleet: reload: nothing to do");
    return EXIT.ok;
  }
  // Nothing happened: the new file was refused. Otherwise an instance did not come up.
  return acted ? EXIT.tempFail : EXIT.config;
}
