/**
 * What a reload does to each instance, decided from the old and the new fleet config alone:
 * stop the ones removed or disabled, start the new or newly enabled ones, restart (gracefully)
 * those whose restart-only settings changed, and tell the rest to re-read their config in place.
 * Pure: the supervisor applies the plan to the processes it has.
 */
import type { Config, FleetConfig } from "../config/types.ts";

export interface ReloadPlan {
  stop: string[];
  start: string[];
  /** With the settings that made a new process necessary. */
  restart: { name: string; changed: string[] }[];
  reload: string[];
}

/**
 * Settings a running process cannot change: its sockets (listeners, admin API), spool, DNS
 * client, log destination, role and relay target, and what the listener was built with.
 * A superset of what RunningInstance.reload keeps, so an in-place reload never silently ignores
 * a change.
 */
const RESTART_ONLY_KEYS = [
  "listen",
  "spoolDir",
  "limits",
  "relay",
  "dns",
  "admin",
  "log",
  "hostname",
] as const satisfies readonly (keyof Config)[];

/** Dotted names of the restart-only settings that differ between two configs of one instance. */
export function restartOnlyChanges(current: Config, next: Config): string[] {
  const changed: string[] = RESTART_ONLY_KEYS.filter((k) => !sameJson(current[k], next[k]));
  if (current.instance.role !== next.instance.role) changed.push("role");
  if (current.instance.relayTo !== next.instance.relayTo) changed.push("relayTo");
  if (current.delivery.allowPrivateDestinations !== next.delivery.allowPrivateDestinations) {
    changed.push("delivery.allowPrivateDestinations");
  }
  if (current.delivery.threads !== next.delivery.threads) changed.push("delivery.threads");
  return changed;
}

export function planReload(current: FleetConfig, next: FleetConfig): ReloadPlan {
  const plan: ReloadPlan = { stop: [], start: [], restart: [], reload: [] };
  const sharedLogChanged = !sameJson(current.log, next.log);
  for (const [name, old] of Object.entries(current.instances)) {
    const fresh = next.instances[name];
    if (old.instance.enabled && !fresh?.instance.enabled) plan.stop.push(name);
  }
  for (const [name, fresh] of Object.entries(next.instances)) {
    if (!fresh.instance.enabled) continue;
    const old = current.instances[name];
    if (!old?.instance.enabled) {
      plan.start.push(name);
      continue;
    }
    const changed = restartOnlyChanges(old, fresh);
    if (sharedLogChanged && !changed.includes("log")) changed.push("log");
    if (changed.length > 0) plan.restart.push({ name, changed });
    else plan.reload.push(name);
  }
  return plan;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
