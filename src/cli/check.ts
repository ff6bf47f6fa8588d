/**
 * `mailfleet check`: validates the config without starting anything, including that every
 * source address is assigned on this host.
 */
import { parseArgs } from "node:util";
import { verifySources } from "../instance/verify-sources.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { loadConfigOrExit } from "./load-config.ts";

export async function runCheck(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } } });
  const config = loadConfigOrExit(values.config);
  const sources = verifySources(config);
  if (!sources.ok) throw new CliError(sources.message, EXIT.config);
  const listeners = config.listen.map((l) => `${l.host}:${l.port}`).join(", ");
  console.log(`${config.source}: ok (listen ${listeners}; spool ${config.spoolDir})`);
  return EXIT.ok;
}
