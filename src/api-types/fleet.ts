/**
 * Types of the supervisor's control API (HTTP over the Unix socket <run_dir>/control.sock),
 * shared by src/supervisor and the CLI (`status`, `stop`, `reload`, `instance start|stop|list`).
 *
 *   GET  /v1/status                      -> FleetStatus
 *   POST /v1/reload                      -> ReloadResult
 *   POST /v1/stop                        -> { ok: true }   (graceful; the supervisor then exits)
 *   POST /v1/instances/NAME/start        -> InstanceActionResult
 *   POST /v1/instances/NAME/stop         -> InstanceActionResult
 *
 * Errors: non-2xx with { error: string }.
 */
import type { InstanceRole } from "../config/types.ts";

export type InstanceState =
  | "starting" // process spawned, not yet listening
  | "running"
  | "stopping"
  | "stopped" // stopped by the operator (instance stop), or not started yet
  | "disabled" // enabled: false in the config
  | "backoff"; // crashed; restarts after a delay

export interface InstanceStatus {
  name: string;
  role: InstanceRole;
  enabled: boolean;
  state: InstanceState;
  pid: number | null;
  /** ISO 8601 of the current process's start, or null. */
  startedAt: string | null;
  uptimeSeconds: number | null;
  /** Restarts after crashes since the supervisor started. */
  restarts: number;
  /** How the last process ended ("exit 1", "signal SIGKILL"), or null. */
  lastExit: string | null;
  /** "host:port" of each SMTP listener of the running process. */
  listeners: string[];
  /** Messages in the instance's queue, or null when not running / not answering. */
  queued: number | null;
  spoolDir: string;
}

export interface FleetStatus {
  pid: number;
  startedAt: string;
  configSource: string;
  instances: InstanceStatus[];
}

export interface ReloadResult {
  ok: boolean;
  /** Config errors (file:line:col ...) when the new file was refused; the old config stays. */
  errors: string[];
  started: string[];
  stopped: string[];
  /** Restarted gracefully because a setting that needs a new process changed (e.g. listeners). */
  restarted: string[];
  /** Told to re-read the config in place (routes, transports, limits apply to queued mail). */
  reloaded: string[];
}

export interface InstanceActionResult {
  ok: boolean;
  instance: InstanceStatus;
}
