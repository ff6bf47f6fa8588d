/**
 * `mailfleet check`: validates the config without starting anything.
 */
import { parseArgs } from "node:util";
import { EXIT } from "./exit-codes.ts";
import { loadConfigOrExit } from "./load-config.ts";

export async function runCheck(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } } });
  const config = loadConfigOrExit(values.config);
  const listeners = config.listen.map((l) => `${l.host}:${l.port}`).join(", ");
  console.log(`${config.source}: ok (listen ${listeners}; spool ${config.spoolDir})`);
  return EXIT.ok;
}
