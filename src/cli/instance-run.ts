/**
 * `mailfleet instance run NAME`: runs one instance of the fleet in the foreground in this
 * process until SIGTERM/SIGINT, then stops it gracefully (in-flight sessions finish, the spool is
 * closed cleanly). SIGHUP re-reads the config and applies this instance's section.
 *
 * The supervisor starts every instance this way (forked, with an IPC channel): then it also
 * reports "ready" once listening, answers queue-size requests, and takes reload and stop over
 * IPC. If the channel disconnects (the supervisor died, even by kill -9) it stops gracefully
 * and exits, so an instance is never left running unsupervised and no accepted mail is lost.
 * SIGINT (Ctrl-C reaches the whole process group) is then left to the supervisor.
 */
import { parseArgs } from "node:util";
import type { Config } from "../config/types.ts";
import { startInstance } from "../instance/instance.ts";
import { verifySources } from "../instance/verify-sources.ts";
import { openDeliveryLogFile } from "../results/log-file.ts";
import { createLogger } from "../results/logger.ts";
import { SpoolError } from "../spool/types.ts";
import { type FromInstance, isToInstance } from "../supervisor/ipc.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { loadFleet, loadFleetOrExit } from "./load-config.ts";

type RunningInstance = Awaited<ReturnType<typeof startInstance>>;

export const INSTANCE_RUN_USAGE = "mailfleet instance run NAME [-c FILE]";

export async function runInstanceRun(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: "string", short: "c" } },
  });
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) throw new CliError(`usage: ${INSTANCE_RUN_USAGE}`, EXIT.usage);
  const supervised = typeof process.send === "function";
  // Listen before anything slow: a stop or reload sent while we start must not be lost.
  let instance: RunningInstance | null = null;
  let reloadPending = false;
  let reload = () => {
    reloadPending = true;
  };
  const stopReason = new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    // Ctrl-C in a terminal reaches the whole process group: a supervised instance leaves it to
    // the supervisor, which stops every instance in order.
    if (supervised) process.on("SIGINT", () => {});
    else process.once("SIGINT", () => resolve("SIGINT"));
    if (!supervised) return;
    process.once("disconnect", () => resolve("supervisor gone"));
    // It may have gone while this process was still loading its modules.
    if (!process.connected) resolve("supervisor gone");
    process.on("message", (message: unknown) => {
      if (!isToInstance(message)) return;
      if (message.type === "stop") resolve("stop requested by the supervisor");
      else if (message.type === "reload") reload();
      else if (instance) send({ type: "stats", id: message.id, queued: instance.scheduler.size });
    });
  });
  process.on("SIGHUP", () => reload());
  try {
    const config = instanceConfig(loadFleetOrExit(values.config).instances, name, values.config);
    return await run(config, values.config, stopReason, (running, applyReload) => {
      instance = running;
      reload = applyReload;
      if (reloadPending) applyReload();
    });
  } finally {
    // An open IPC channel would keep this process alive after the instance has stopped.
    if (supervised && process.connected) process.disconnect();
  }
}

async function run(
  config: Config,
  configPath: string | undefined,
  stopReason: Promise<string>,
  onStarted: (instance: RunningInstance, reload: () => void) => void,
): Promise<number> {
  const name = config.instance.name;
  // Postfix fails silently when a bind address is not on the host; we refuse to start.
  const sources = verifySources(config);
  if (!sources.ok) throw new CliError(sources.message, EXIT.config);
  // Operational logs (JSON, pino) go to stderr; the delivery log goes to log.file, shared by every
  // instance of the fleet (each appends; the lines name their instance).
  const baseLogger = createLogger({ level: config.log.level, file: "stderr" });
  // startInstance names the instance on its own lines; these are the lines of this command.
  const logger = baseLogger.child({ instance: name });
  // Buffered, asynchronous writes (src/results/log-file.ts): the spool, not the log, is what
  // must survive a crash.
  const out = openDeliveryLogFile(config.log.file);
  let instance: RunningInstance;
  try {
    instance = await startInstance({
      config,
      logger: baseLogger,
      name,
      writeDeliveryLog: (line) => out.write(line),
    });
  } catch (err) {
    if (err instanceof SpoolError && err.code === "SPOOL_LOCKED")
      throw new CliError(err.message, EXIT.tempFail);
    if (
      err instanceof Error &&
      "code" in err &&
      (err.code === "EADDRINUSE" || err.code === "EADDRNOTAVAIL")
    ) {
      throw new CliError(`cannot listen: ${err.message}`, EXIT.unavailable);
    }
    throw err;
  }
  const listeners = instance.listeners.map((l) => `${l.host}:${l.port}`);
  const admin = instance.admin ? `; admin API ${instance.admin.url}` : "";
  console.error(`mailfleet: listening on ${listeners.join(", ")}${admin} (instance ${name})`);
  send({ type: "ready", listeners, admin: instance.admin?.url ?? null });
  // Like `postfix reload`: a broken file keeps the running config.
  onStarted(instance, () => {
    const result = loadFleet(configPath);
    if (!result.ok) {
      for (const error of result.errors) logger.error({ error }, "reload refused: config invalid");
      return;
    }
    const next = result.fleet.instances[name];
    if (!next) {
      logger.error(
        { source: result.fleet.source },
        "reload refused: this instance is no longer in the config",
      );
      return;
    }
    const sourcesOk = verifySources(next);
    if (!sourcesOk.ok) {
      logger.error({ error: sourcesOk.message }, "reload refused: source addresses missing");
      return;
    }
    const needRestart = instance.reload(next);
    if (needRestart.length > 0) logger.warn({ settings: needRestart }, "these changes apply after a restart");
  });
  const reason = await stopReason;
  logger.info({ reason }, "stopping");
  await instance.stop();
  out.close();
  out.flushSync();
  return EXIT.ok;
}

function instanceConfig(instances: Record<string, Config>, name: string, path: string | undefined): Config {
  const config = instances[name];
  if (config) return config;
  const known = Object.keys(instances).join(", ");
  throw new CliError(
    `no instance named "${name}" in ${path ?? "the config"} (configured: ${known})`,
    EXIT.usage,
  );
}

function send(message: FromInstance): void {
  if (process.send && process.connected) process.send(message);
}
