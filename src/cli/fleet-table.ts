/**
 * The human form of the fleet's status, shared by `mailfleet status` and `mailfleet instance
 * list`: one row per instance with name, role, state, pid, uptime, listeners, queue size and
 * restarts. Pure text formatting.
 */
import type { InstanceStatus } from "../api-types/fleet.ts";

const COLUMNS = ["NAME", "ROLE", "STATE", "PID", "UPTIME", "LISTENERS", "QUEUED", "RESTARTS"] as const;

export function formatFleetTable(instances: InstanceStatus[]): string {
  const rows = instances.map((i) => [
    i.name,
    i.role,
    i.state,
    i.pid === null ? "-" : String(i.pid),
    i.uptimeSeconds === null ? "-" : formatUptime(i.uptimeSeconds),
    i.listeners.length === 0 ? "-" : i.listeners.join(","),
    i.queued === null ? "-" : String(i.queued),
    i.lastExit && i.restarts > 0 ? `${i.restarts} (last: ${i.lastExit})` : String(i.restarts),
  ]);
  const widths = COLUMNS.map((c, k) => Math.max(c.length, ...rows.map((r) => r[k]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, k) => (k === cells.length - 1 ? cell : cell.padEnd(widths[k] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(COLUMNS), ...rows.map(line)].join("\n");
}

/** 42s, 5m03s, 2h07m, 3d04h. */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor((s % 86_400) / 3600))}h`;
}
