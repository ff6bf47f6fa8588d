/**
 * Loads the whole fleet config for the commands that act on the fleet (start, stop, reload,
 * status, instance ...). Errors come back formatted (file:line:col ...), or, through
 * loadFleetOrExit, as a CliError with EX_CONFIG.
 */
import { formatConfigError } from "../config/errors.ts";
import { loadConfig } from "../config/load.ts";
import type { FleetConfig } from "../config/types.ts";
import type { FleetLoadResult } from "../supervisor/fleet.ts";
import { CliError, EXIT } from "./exit-codes.ts";

/** `path` undefined: mailfleet.yaml in the working directory, else the built-in default. */
export function loadFleet(path: string | undefined): FleetLoadResult {
  const result = loadConfig(path === undefined ? { cwd: process.cwd() } : { path, cwd: process.cwd() });
  if (result.ok) return { ok: true, fleet: result.fleet };
  return { ok: false, errors: result.errors.map(formatConfigError) };
}

export function loadFleetOrExit(path: string | undefined): FleetConfig {
  const result = loadFleet(path);
  if (result.ok) return result.fleet;
  throw new CliError(result.errors.join("\n"), EXIT.config);
}
