/**
 * `mailfleet check`: validates the config without starting anything, including that every
 * source address is assigned on this host. Prints one line per instance.
 */
import { parseArgs } from "node:util";
import { verifySources } from "../instance/verify-sources.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { loadFleetOrExit } from "./load-config.ts";

export async function runCheck(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } } });
  const fleet = loadFleetOrExit(values.config);
  const problems: string[] = [];
  const lines: string[] = [];
  for (const [name, config] of Object.entries(fleet.instances)) {
    const sources = verifySources(config);
    if (!sources.ok) problems.push(`instance ${name}: ${sources.message}`);
    const listeners = config.listen.map((l) => `${l.host}:${l.port}`).join(", ");
    const relay = config.instance.relayTo === null ? "delivers" : `relays to ${config.instance.relayTo}`;
    const state = config.instance.enabled ? "" : ", disabled";
    lines.push(
      `  ${name} (${config.instance.role}${state}): listen ${listeners}; ${relay}; spool ${config.spoolDir}`,
    );
  }
  if (problems.length > 0) throw new CliError(problems.join("\n"), EXIT.config);
  console.log(`${fleet.source}: ok`);
  for (const line of lines) console.log(line);
  return EXIT.ok;
}
