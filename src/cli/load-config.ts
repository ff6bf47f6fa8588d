/**
 * Loads the config for a CLI command, turning errors into one printed line each
 * (file:line:col: key: found ..., expected ...) and the EX_CONFIG exit code.
 */

import { formatConfigError } from "../config/errors.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { CliError, EXIT } from "./exit-codes.ts";

export function loadConfigOrExit(path: string | undefined): Config {
  const result = loadConfig(path === undefined ? { cwd: process.cwd() } : { path, cwd: process.cwd() });
  if (result.ok) return result.config;
  throw new CliError(result.errors.map(formatConfigError).join("\n"), EXIT.config);
}
