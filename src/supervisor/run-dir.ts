/**
 * The supervisor's run directory: control.sock (the control API) and mailfleet.pid. The
 * directory is created mode 0700 so only the owner reaches the socket. Claiming it makes sure no
 * other supervisor runs there: a socket that answers means one does; a socket nobody listens on
 * is left over from a crash (kill -9) and is removed.
 */
import { chmod, mkdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { controlCall } from "./control-call.ts";

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export function controlSocketPath(runDir: string): string {
  return join(runDir, "control.sock");
}

export function pidFilePath(runDir: string): string {
  return join(runDir, "mailfleet.pid");
}

export class AlreadyRunningError extends Error {
  readonly pid: number | null;
  constructor(pid: number | null, message: string) {
    super(message);
    this.pid = pid;
  }
}

/** Creates the run directory and clears a stale socket; throws AlreadyRunningError if one answers. */
export async function claimRunDir(runDir: string, logger: Logger): Promise<void> {
  const socketPath = controlSocketPath(runDir);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new Error(
      `control socket path is over the ${MAX_SOCKET_PATH}-byte Unix socket limit: ${socketPath} (use a shorter run_dir)`,
    );
  }
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  await chmod(runDir, 0o700);
  const probe = await controlCall(socketPath, "GET", "/v1/status", 5000);
  if (probe.kind === "answer") {
    const body = probe.body as { pid?: unknown } | null;
    const pid = typeof body?.pid === "number" ? body.pid : null;
    throw new AlreadyRunningError(pid, `mailfleet is already running (pid ${pid ?? "unknown"})`);
  }
  if (probe.kind === "error") {
    throw new AlreadyRunningError(
      null,
      `mailfleet may already be running: ${socketPath} exists but does not answer (${probe.message})`,
    );
  }
  if (probe.code === "ECONNREFUSED") {
    logger.warn({ socketPath }, "removing stale control socket left by a dead supervisor");
    await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }
}
