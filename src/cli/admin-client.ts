/**
 * Thin client for the admin API of running instances: finds each one's endpoint and token next to
 * its spool (admin.json, mode 0600) and makes typed requests. `adminCall` returns failures as data
 * (an instance that is not running is a normal answer for fleet-wide commands); `adminRequest`
 * turns them into a CliError for commands about one instance.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { AdminEndpoint, FleetReport } from "../api-types/queue.ts";
import type { Config, FleetConfig } from "../config/types.ts";
import { CliError, EXIT } from "./exit-codes.ts";

export type AdminResult<T> =
  | { ok: true; value: T }
  /** `running: false`: no instance answers there; otherwise it answered with an error. */
  | { ok: false; running: boolean; reason: string };

async function readEndpoint(config: Config): Promise<AdminEndpoint | null> {
  try {
    return JSON.parse(await readFile(join(config.spoolDir, "admin.json"), "utf8")) as AdminEndpoint;
  } catch {
    return null;
  }
}

export async function adminCall<T>(
  config: Config,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<AdminResult<T>> {
  if (config.admin.listen === null) {
    return { ok: false, running: false, reason: "admin API disabled in the config (admin.listen: null)" };
  }
  const endpoint = await readEndpoint(config);
  if (endpoint === null)
    return { ok: false, running: false, reason: `not running (spool ${config.spoolDir})` };
  let res: Response;
  try {
    res = await fetch(`${endpoint.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${endpoint.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    if (cause === "ECONNREFUSED") return { ok: false, running: false, reason: "not running" };
    return {
      ok: false,
      running: true,
      reason: `not answering at ${endpoint.url}: ${(err as Error).message}`,
    };
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    // Reported below when the status is an error; a 2xx must carry JSON.
  }
  if (!res.ok) {
    const error = (parsed as { error?: unknown } | null)?.error;
    const detail = typeof error === "string" ? error : text.slice(0, 200);
    return { ok: false, running: true, reason: `admin API ${method} ${path}: HTTP ${res.status}: ${detail}` };
  }
  return { ok: true, value: parsed as T };
}

/** One instance's admin API; a failure is a CliError (EX_UNAVAILABLE). */
export async function adminRequest<T>(
  config: Config,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<T> {
  const result = await adminCall<T>(config, method, path, body);
  if (result.ok) return result.value;
  throw new CliError(`instance ${config.instance.name}: ${result.reason}`, EXIT.unavailable);
}

/** The instances a fleet-wide command covers: all of them, or the one `--instance` names. */
export function selectInstances(fleet: FleetConfig, name: string | undefined): Config[] {
  if (name === undefined) return Object.values(fleet.instances);
  const instance = fleet.instances[name];
  if (instance === undefined) {
    const names = Object.keys(fleet.instances).join(", ");
    throw new CliError(`no instance ${name} in ${fleet.source} (instances: ${names})`, EXIT.usage);
  }
  return [instance];
}

/** Calls every instance at once; results come back in the order given. */
export function adminCallEach<T>(
  instances: Config[],
  call: (config: Config) => Promise<AdminResult<T>>,
): Promise<{ instance: string; result: AdminResult<T> }[]> {
  return Promise.all(
    instances.map(async (config) => {
      const result = await call(config);
      if (!result.ok && !result.running && !config.instance.enabled) {
        return { instance: config.instance.name, result: { ...result, reason: "not running (disabled)" } };
      }
      return { instance: config.instance.name, result };
    }),
  );
}

export function heading(instance: string): string {
  return `== ${instance} ==`;
}

/**
 * The fleet-wide report of one admin call per instance, and its text: "sections" puts each
 * instance under a heading (listings), "lines" gives one "instance: text" line each (actions).
 */
export function fleetReport<T>(
  answers: { instance: string; result: AdminResult<T> }[],
  describe: (value: T) => string,
  style: "sections" | "lines" = "sections",
): { report: FleetReport<T>; text: string } {
  const report: FleetReport<T> = { instances: [], unreachable: [] };
  const parts: string[] = [];
  for (const { instance, result } of answers) {
    const label = style === "sections" ? heading(instance) : `${instance}:`;
    if (result.ok) {
      report.instances.push(result.value);
      parts.push(`${label}${style === "sections" ? "\n" : " "}${describe(result.value)}`);
    } else {
      report.unreachable.push({ instance, reason: result.reason });
      parts.push(`${label} ${result.reason}`);
    }
  }
  return { report, text: parts.join(style === "sections" ? "\n\n" : "\n") };
}

/** Prints a fleetReport (as JSON with `json`); fails only when no instance answered. */
export function printFleetReport<T>(
  answers: { instance: string; result: AdminResult<T> }[],
  describe: (value: T) => string,
  json: boolean,
  style: "sections" | "lines" = "sections",
): number {
  const { report, text } = fleetReport(answers, describe, style);
  console.log(json ? JSON.stringify(report, null, 2) : text);
  return report.instances.length > 0 ? EXIT.ok : EXIT.unavailable;
}
