/**
 * `mailfleet start`: runs one instance in the foreground until SIGTERM/SIGINT, then stops it
 * gracefully (in-flight sessions finish, the spool is closed cleanly).
 */
import { parseArgs } from "node:util";
import pino from "pino";
import { formatConfigError } from "../config/errors.ts";
import { loadConfig } from "../config/load.ts";
import { startInstance } from "../instance/instance.ts";
import { verifySources } from "../instance/verify-sources.ts";
import { createLogger } from "../results/logger.ts";
import { SpoolError } from "../spool/types.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { loadConfigOrExit } from "./load-config.ts";

export async function runStart(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } } });
  const config = loadConfigOrExit(values.config);
  // Postfix fails silently when a bind address is not on the host; we refuse to start.
  const sources = verifySources(config);
  if (!sources.ok) throw new CliError(sources.message, EXIT.config);
  // Operational logs (JSON, pino) go to stderr; the delivery log goes to log.file.
  const logger = createLogger({ level: config.log.level, file: "stderr" });
  // Buffered, asynchronous writes: a synchronous write per log line cost more CPU than the SMTP
  // work itself under load. The spool, not the log, is what must survive a crash.
  const out = pino.destination({
    dest: config.log.file === "-" ? 1 : config.log.file,
    mkdir: true,
    sync: false,
  });
  let instance: Awaited<ReturnType<typeof startInstance>>;
  try {
    instance = await startInstance({ config, logger, writeDeliveryLog: (line) => out.write(line) });
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
  const listening = instance.listeners.map((l) => `${l.host}:${l.port}`).join(", ");
  console.error(
    `mailfleet: listening on ${listening}${instance.admin ? `; admin API ${instance.admin.url}` : ""}`,
  );
  // SIGHUP re-reads the config like `postfix reload`; a broken file keeps the running config.
  process.on("SIGHUP", () => {
    const result = loadConfig(values.config === undefined ? { cwd: process.cwd() } : { path: values.config });
    if (!result.ok) {
      for (const e of result.errors)
        logger.error({ error: formatConfigError(e) }, "reload refused: config invalid");
      return;
    }
    const sourcesOk = verifySources(result.config);
    if (!sourcesOk.ok) {
      logger.error({ error: sourcesOk.message }, "reload refused: source addresses missing");
      return;
    }
    const needRestart = instance.reload(result.config);
    if (needRestart.length > 0) logger.warn({ settings: needRestart }, "these changes apply after a restart");
  });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  logger.info({ signal }, "stopping on signal");
  await instance.stop();
  out.flushSync();
  return EXIT.ok;
}
