/**
 * GET on a running instance's admin API from an e2e test, with the token the instance wrote
 * next to its spool (the same way the CLI finds it).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { AdminEndpoint } from "../../src/api-types/queue.ts";

export async function adminGet<T>(spoolDir: string, path: string): Promise<T> {
  const endpoint = JSON.parse(await readFile(join(spoolDir, "admin.json"), "utf8")) as AdminEndpoint;
  const res = await fetch(`${endpoint.url}${path}`, {
    headers: { authorization: `Bearer ${endpoint.token}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}
