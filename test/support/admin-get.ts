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

/** POST with a JSON body to a running instance's admin API. */
export async function adminPost<T>(spoolDir: string, path: string, body: unknown): Promise<T> {
  const endpoint = JSON.parse(await readFile(join(spoolDir, "admin.json"), "utf8")) as AdminEndpoint;
  const res = await fetch(`${endpoint.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${endpoint.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`POST ${path}: HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * Moves the test clock of an instance started with MAILFLEET_TEST_CLOCK=1 (startMailfleet's
 * `env` option) forward; returns its new now.
 */
export async function advanceClock(spoolDir: string, ms: number): Promise<Date> {
  const { now } = await adminPost<{ now: string }>(spoolDir, "/v1/test/clock", { advanceMs: ms });
  return new Date(now);
}
