/**
 * `mailfleet start`'s engine: claims the run directory, serves the control API on
 * <run_dir>/control.sock, writes the pid file, and starts every enabled instance as its own
 * process. If an instance cannot come up at start-up the whole start fails (the others are
 * stopped again), so a broken setup is seen at once; after that, crashes are restarted with
 * backoff. Stopping stops every instance gracefully, then removes the socket and the pid file.
 */
import { unlink, writeFile } from "node:fs/promises";
import type { FleetStatus, InstanceActionResult, ReloadResult } from "../api-types/fleet.ts";
import { ControlError, startControlServer } from "./control-server.ts";
import { Fleet, type FleetDeps, FleetError, type StartReport } from "./fleet.ts";
import { AlreadyRunningError, claimRunDir, controlSocketPath, pidFilePath } from "./run-dir.ts";

export interface RunningSupervisor {
  fleet: Fleet;
  socketPath: string;
  /** How each enabled instance came up (all ok: a failure throws StartFailedError instead). */
  started: StartReport[];
  /** Graceful stop of the fleet, then the run directory is cleaned; idempotent. */
  stop(): Promise<void>;
  /** Resolves once stopped, whoever asked (signal, POST /v1/stop). */
  stopped: Promise<void>;
}

/** An instance exited (or never listened) during the fleet's start; the fleet was stopped again. */
export class StartFailedError extends Error {
  /** The failing process's exit code, when it exited with one. */
  readonly exitCode: number | null;
  constructor(message: string, exitCode: number | null) {
    super(message);
    this.exitCode = exitCode;
  }
}

export async function startSupervisor(deps: FleetDeps): Promise<RunningSupervisor> {
  const { runDir } = deps.config;
  const socketPath = controlSocketPath(runDir);
  const pidPath = pidFilePath(runDir);
  await claimRunDir(runDir, deps.logger);
  const fleet = new Fleet(deps);

  let stopping: Promise<void> | null = null;
  let markStopped = () => {};
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await fleet.stop();
      await unlink(pidPath).catch(() => undefined);
      await server.close();
      deps.logger.info("fleet stopped");
      markStopped();
    })();
    return stopping;
  };
  const server = await startControlServer({
    socketPath,
    logger: deps.logger,
    handlers: {
      status: (): Promise<FleetStatus> => fleet.status(),
      reload: (): Promise<ReloadResult> => asControlError(fleet.reload()),
      stop: () => void stop(),
      startInstance: (name): Promise<InstanceActionResult> => asControlError(fleet.startInstance(name)),
      stopInstance: (name): Promise<InstanceActionResult> => asControlError(fleet.stopInstance(name)),
    },
  }).catch((err: NodeJS.ErrnoException) => {
    // Another supervisor bound the socket between our probe and our listen.
    if (err.code === "EADDRINUSE") throw new AlreadyRunningError(null, "mailfleet is already running");
    throw err;
  });
  await writeFile(pidPath, `${process.pid}\n`);

  const started = await fleet.startAll();
  const failed = started.filter((r) => !r.outcome.ok);
  if (failed.length > 0) {
    await stop();
    const first = failed[0]?.outcome;
    const why = failed.map((r) => `${r.name} (${r.outcome.ok ? "ok" : r.outcome.exit})`).join(", ");
    throw new StartFailedError(
      `instance failed to start: ${why}; fleet stopped`,
      first && !first.ok ? first.code : null,
    );
  }
  return { fleet, socketPath, started, stop, stopped };
}

const HTTP_STATUS: Record<FleetError["code"], number> = {
  UNKNOWN_INSTANCE: 404,
  INSTANCE_DISABLED: 409,
  FLEET_STOPPING: 409,
};

async function asControlError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof FleetError) throw new ControlError(HTTP_STATUS[err.code], err.message);
    throw err;
  }
}
