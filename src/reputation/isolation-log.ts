/**
 * Isolation events in the delivery log, in its two formats. They concern a tenant, not a queued
 * message, so the text line's id column is "-":
 *   TIME INSTANCE - isolated tenant=bad reason="complaint rate 3.2% > 1% over 24h (n=125)" action=quarantine pool=quarantine
 *   TIME INSTANCE - released tenant=bad action=quarantine
 */
import type { IsolationEvent } from "./isolation-types.ts";

export function isolationLogLine(
  format: "text" | "json",
  instance: string,
  event: IsolationEvent,
  time: Date,
): string {
  const iso = time.toISOString();
  if (format === "json") {
    const { kind, tenant, reason, action, pool } = event;
    return `${JSON.stringify({ time: iso, instance, event: kind, id: null, tenant, reason, action, pool })}\n`;
  }
  const fields = [`tenant=${event.tenant}`];
  if (event.kind === "isolated") fields.push(`reason=${JSON.stringify(event.reason)}`);
  fields.push(`action=${event.action}`);
  if (event.pool !== null) fields.push(`pool=${event.pool}`);
  return `${[iso, instance.replace(/\s/g, "_"), "-", event.kind, ...fields].join(" ")}\n`;
}
