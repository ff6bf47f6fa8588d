/**
 * `mailfleet log [-f] [-n LINES] [--instance NAME]`: prints the fleet's shared delivery log (the
 * last lines, then new ones with -f, like `tail -f`), optionally only one instance's lines.
 *
 * Reads the file named by log.file. Following polls the file's size rather than using fs.watch,
 * which misses appends on some file systems; a shrunk file (rotated or truncated) is read again
 * from its start.
 */
import { open, stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { CliError, EXIT } from "./exit-codes.ts";
import { INSTANCE_OPTIONS } from "./fleet-options.ts";
import { loadFleetOrExit } from "./load-config.ts";

const FOLLOW_POLL_MS = 250;
const TAIL_READ_BYTES = 1024 * 1024;

/** Whether a delivery-log line (text or JSON) was written by `instance`. */
export function lineFromInstance(line: string, instance: string): boolean {
  if (line.startsWith("{")) {
    try {
      return (JSON.parse(line) as { instance?: unknown }).instance === instance;
    } catch {
      return false;
    }
  }
  // Text lines: "TIME INSTANCE ID EVENT ...".
  return line.split(" ", 2)[1] === instance;
}

export async function runLog(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...INSTANCE_OPTIONS,
      follow: { type: "boolean", short: "f" },
      lines: { type: "string", short: "n", default: "50" },
    },
  });
  const fleet = loadFleetOrExit(values.config);
  const lines = Number(values.lines);
  if (!Number.isInteger(lines) || lines < 0) throw new CliError("-n takes a number of lines", EXIT.usage);
  const name = values.instance;
  if (name !== undefined && !Object.hasOwn(fleet.instances, name)) {
    throw new CliError(
      `no instance ${name} (instances: ${Object.keys(fleet.instances).join(", ")})`,
      EXIT.usage,
    );
  }
  if (fleet.log.file === "-") {
    throw new CliError(
      'log.file is "-": the log goes to the supervisor\'s standard output; set log.file to a path to use `mailfleet log`',
      EXIT.config,
    );
  }
  const keep = (line: string) => line !== "" && (name === undefined || lineFromInstance(line, name));
  const path = fleet.log.file;
  let position = await printTail(path, lines, keep);
  if (!values.follow) return EXIT.ok;
  let partial = "";
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  process.once("SIGTERM", () => stop.abort());
  while (!stop.signal.aborted) {
    const size = await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    if (size < position) position = 0;
    if (size > position) {
      const chunk = await readRange(path, position, size);
      position = size;
      const text = partial + chunk;
      const complete = text.split("\n");
      partial = complete.pop() ?? "";
      for (const line of complete) if (keep(line)) process.stdout.write(`${line}\n`);
    }
    await sleep(FOLLOW_POLL_MS, undefined, { signal: stop.signal }).catch(() => {});
  }
  return EXIT.ok;
}

/** Prints the last `count` kept lines; returns the file size read up to. */
async function printTail(path: string, count: number, keep: (line: string) => boolean): Promise<number> {
  const size = await stat(path).then(
    (s) => s.size,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return 0;
      throw new CliError(`cannot read ${path}: ${err.message}`, EXIT.noInput);
    },
  );
  if (count === 0 || size === 0) return size;
  const start = Math.max(0, size - TAIL_READ_BYTES);
  const all = (await readRange(path, start, size)).split("\n");
  if (start > 0) all.shift(); // a partial first line
  const kept = all.filter(keep);
  for (const line of kept.slice(-count)) process.stdout.write(`${line}\n`);
  return size;
}

async function readRange(path: string, from: number, to: number): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(to - from);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await handle.close();
  }
}
