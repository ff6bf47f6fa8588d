/**
 * Loads the config for a CLI command, turning errors into one printed line each
 * (file:line:col: key: found ..., expected ...) and the EX_CONFIG exit code.
 */

import { formatConfigError } from "../config/errors.ts";
import { type LoadResult, loadConfig } from "../config/load.ts";
import type { Config, FleetConfig } from "../config/types.ts";
import type { FleetLoadResult } from "../supervisor/fleet.ts";
import { CliError, EXIT } from "./exit-codes.ts";

function loadOrExit(path: string | undefined): Extract<LoadResult, { ok: true }> {
  const result = loadConfig(path === undefined ? { cwd: process.cwd() } : { path, cwd: process.cwd() });
  if (result.ok) return result;
  throw new CliError(result.errors.map(formatConfigError).join("\n"), EXIT.config);
}

/** The primary instance's config (the delivering one), for single-instance commands. */
export function loadConfigOrExit(path: string | undefined): Config {
  return loadOrExit(path).config;
}

export function loadFleetOrExit(path: string | undefined): FleetConfig {
  return loadOrExit(path).fleet;
}

/** The whole fleet, with errors as formatted lines (the supervisor reports them on reload). */
export function loadFleet(path: string | undefined): FleetLoadResult {
  const result = loadConfig(path === undefined ? { cwd: process.cwd() } : { path, cwd: process.cwd() });
  if (result.ok) return { ok: true, fleet: result.fleet };
  return { ok: false, errors: result.errors.map(formatConfigError) };
}

/** One instance's config by name, or the primary instance when no name is given. */
export function loadInstanceOrExit(path: string | undefined, name: string | undefined): Config {
  const { config, fleet } = loadOrExit(path);
  if (name === undefined) return config;
  const instance = fleet.instances[name];
  if (instance === undefined) {
    const names = Object.keys(fleet.instances).join(", ");
    throw new CliError(`no instance ${name} in ${fleet.source} (instances: ${names})`, EXIT.usage);
  }
  return instance;
}
