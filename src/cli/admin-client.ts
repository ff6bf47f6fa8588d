/**
 * Thin client for the admin API of a running instance: finds its endpoint and token next to
 * the spool (admin.json, mode 0600) and makes typed requests.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { AdminEndpoint } from "../api-types/queue.ts";
import type { Config } from "../config/types.ts";
import { CliError, EXIT } from "./exit-codes.ts";

export async function adminRequest<T>(config: Config, method: "GET" | "POST", path: string): Promise<T> {
  let endpoint: AdminEndpoint;
  try {
    endpoint = JSON.parse(await readFile(join(config.spoolDir, "admin.json"), "utf8")) as AdminEndpoint;
  } catch {
    throw new CliError(
      `no running instance found for spool ${config.spoolDir} (is it started?)`,
      EXIT.unavailable,
    );
  }
  let res: Response;
  try {
    res = await fetch(`${endpoint.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${endpoint.token}` },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new CliError(
      `instance at ${endpoint.url} is not answering: ${(err as Error).message}`,
      EXIT.unavailable,
    );
  }
  if (!res.ok) throw new CliError(`admin API ${method} ${path}: HTTP ${res.status}`, EXIT.unavailable);
  return (await res.json()) as T;
}
