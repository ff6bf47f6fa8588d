/**
 * What a reload does to each instance, decided from the old and the new fleet config alone:
 * stop the ones removed or disabled, start the new or newly enabled ones, restart (gracefully)
 * those whose restart-only settings changed, and tell the rest to re-read their config in place.
 * Pure: the supervisor applies the plan to the processes it has.
 */
import { restartOnlyChanges } from "../config/restart-only.ts";
import type { FleetConfig } from "../config/types.ts";

export interface ReloadPlan {
  stop: string[];
  start: string[];
  /** With the settings that made a new process necessary. */
  restart: { name: string; changed: string[] }[];
  reload: string[];
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
