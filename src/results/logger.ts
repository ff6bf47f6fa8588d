/**
 * The operational logger (start-up, errors, connections; not the delivery log): pino, writing
 * JSON lines to stdout, stderr or a file. One is created per instance by the composition root and
 * handed to modules in their deps; nothing here is a module-level singleton.
 *
 * A file destination is asynchronous (sync: false) so logging never blocks the event loop on
 * disk; pino writes out what is still buffered synchronously when the process exits.
 */
import pino, { type Logger } from "pino";
import type { Config } from "../config/types.ts";

export interface LoggerOptions {
  level: Config["log"]["level"];
  /** "-" for stdout, "stderr" for standard error, otherwise a file path (parents are created). */
  file: string;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination =
    options.file === "-"
      ? pino.destination({ dest: 1, sync: false })
      : options.file === "stderr"
        ? pino.destination({ dest: 2, sync: false })
        : pino.destination({ dest: options.file, mkdir: true, sync: false });
  return pino({ level: options.level, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
