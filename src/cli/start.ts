/**
 * `mailfleet start`: runs the supervisor in the foreground. It starts one process per enabled
 * instance (`mailfleet instance run NAME`), restarts crashed ones with backoff, serves the
 * control API for `status`, `stop`, `reload` and `instance start|stop`, reloads on SIGHUP, and
 * on SIGTERM/SIGINT stops every instance gracefully before exiting 0.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { BUILTIN_SOURCE } from "../config/load.ts";
import { verifySources } from "../instance/verify-sources.ts";
import { createLogger } from "../results/logger.ts";
import type { FleetLoadResult } from "../supervisor/fleet.ts";
import { forkInstance } from "../supervisor/fork-instance.ts";
import { AlreadyRunningError } from "../supervisor/run-dir.ts";
import { type RunningSupervisor, StartFailedError, startSupervisor } from "../supervisor/supervisor.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { loadFleet } from "./load-config.ts";

export async function runStart(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } } });
  const load = (): FleetLoadResult => checkSources(loadFleet(values.config));
  const loaded = load();
  if (!loaded.ok) throw new CliError(loaded.errors.join("\n"), EXIT.config);
  const fleet = loaded.fleet;
  const logger = createLogger({ level: fleet.log.level, file: "stderr" }).child({ component: "supervisor" });
  // The children read the same file; the built-in default is found again from the same cwd.
  const configPath = fleet.source === BUILTIN_SOURCE ? null : resolve(fleet.source);

  // Signals that arrive while the fleet starts are acted on once it has.
  let supervisor: RunningSupervisor | null = null;
  let stopSignal: NodeJS.Signals | null = null;
  const onStopSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "stopping on signal");
    stopSignal = signal;
    void supervisor?.stop();
  };
  const onHup = () => {
    if (!supervisor) return logger.warn("SIGHUP while starting: ignored");
    supervisor.fleet.reload().then(
      (result) => {
        if (!result.ok) logger.error({ errors: result.errors }, "reload refused or incomplete");
      },
      (err: unknown) => logger.error({ err }, "reload failed"),
    );
  };
  process.on("SIGTERM", onStopSignal);
  process.on("SIGINT", onStopSignal);
  process.on("SIGHUP", onHup);
  try {
    try {
      supervisor = await startSupervisor({
        config: fleet,
        loadConfig: load,
        spawnInstance: (name) => forkInstance(name, configPath),
        logger,
      });
    } catch (err) {
      if (err instanceof AlreadyRunningError) throw new CliError(err.message, EXIT.tempFail);
      if (err instanceof StartFailedError) throw new CliError(err.message, startFailureExit(err.exitCode));
      throw err;
    }
    console.error(`mailfleet: ${startedLine(supervisor)}`);
    if (stopSignal) void supervisor.stop();
    await supervisor.stopped;
    return EXIT.ok;
  } finally {
    process.off("SIGTERM", onStopSignal);
    process.off("SIGINT", onStopSignal);
    process.off("SIGHUP", onHup);
  }
}

/** Every enabled instance must be able to send from its source addresses (see verify-sources). */
function checkSources(loaded: FleetLoadResult): FleetLoadResult {
  if (!loaded.ok) return loaded;
  const errors = Object.values(loaded.fleet.instances)
    .filter((c) => c.instance.enabled)
    .map((config) => verifySources(config))
    .flatMap((r) => (r.ok ? [] : [r.message]));
  return errors.length === 0 ? loaded : { ok: false, errors: [...new Set(errors)] };
}

function startedLine(supervisor: RunningSupervisor): string {
  const started = supervisor.started.map((r) => `${r.name} (pid ${r.outcome.ok ? r.outcome.pid : "?"})`);
  const what = started.length > 0 ? started.join(", ") : "no enabled instance";
  return `fleet started: ${what}; control socket ${supervisor.socketPath}`;
}

/** The failing instance's own exit code when it is one of ours (75 spool locked, 69 port busy). */
function startFailureExit(code: number | null): number {
  const known: number[] = Object.values(EXIT);
  return code !== null && code !== 0 && known.includes(code) ? code : EXIT.software;
}
