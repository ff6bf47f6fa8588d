/**
 * The messages the supervisor and an instance process exchange over the IPC channel that
 * child_process.fork opens. Parent -> child: reload, stop, stats requests; child -> parent: ready
 * (once listening) and stats answers. Both sides check what they receive with the guards here,
 * so a stray message (or another Node tool speaking on the channel) is ignored, not trusted.
 */

/** Supervisor -> instance. */
export type ToInstance =
  /** Re-read the config file and apply this instance's section in place. */
  | { type: "reload" }
  /** Stop gracefully (in-flight sessions finish, spool closed) and exit 0. */
  | { type: "stop" }
  /** Ask for the queue size; answered with a FromInstance "stats" of the same id. */
  | { type: "stats"; id: number };

/** Instance -> supervisor. */
export type FromInstance =
  /** Listening: "host:port" per SMTP listener, and the admin API URL (or null). */
  | { type: "ready"; listeners: string[]; admin: string | null }
  | { type: "stats"; id: number; queued: number };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

export function isToInstance(value: unknown): value is ToInstance {
  if (!isRecord(value)) return false;
  if (value.type === "reload" || value.type === "stop") return true;
  return value.type === "stats" && typeof value.id === "number";
}

export function isFromInstance(value: unknown): value is FromInstance {
  if (!isRecord(value)) return false;
  if (value.type === "ready") {
    return (
      Array.isArray(value.listeners) &&
      value.listeners.every((l) => typeof l === "string") &&
      (value.admin === null || typeof value.admin === "string")
    );
  }
  return value.type === "stats" && typeof value.id === "number" && typeof value.queued === "number";
}
