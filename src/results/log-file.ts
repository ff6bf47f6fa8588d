/**
 * Where an instance's delivery-log lines go: a file (appended to by every instance of the fleet)
 * or stdout. Lines are buffered and written in batches, at the latest `flushMs` after they were
 * logged: one write per line cost a syscall per event, more than the logging itself under load.
 * The spool, not the log, is what must survive a crash; a graceful stop writes everything.
 */
import pino from "pino";

export interface DeliveryLogFile {
  write(line: string): void;
  /** Writes out what is buffered, synchronously (at exit). */
  flushSync(): void;
  /** Stops the flush timer; call flushSync() after it. */
  close(): void;
}

export function openDeliveryLogFile(file: string, flushMs = 100): DeliveryLogFile {
  const toStdout = file === "-";
  const out = pino.destination({
    dest: toStdout ? 1 : file,
    mkdir: true,
    sync: false,
    // On a shared stdout pipe, writes of at most PIPE_BUF bytes keep the lines of several
    // instances whole.
    ...(toStdout ? { maxWrite: 4096, minLength: 2048 } : { minLength: 8192 }),
  });
  let dirty = false;
  const timer = setInterval(() => {
    if (!dirty) return;
    dirty = false;
    out.flush();
  }, flushMs);
  timer.unref();
  return {
    write(line) {
      out.write(line);
      dirty = true;
    },
    flushSync() {
      out.flushSync();
    },
    close() {
      clearInterval(timer);
    },
  };
}
