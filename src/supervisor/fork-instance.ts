/**
 * How the supervisor starts one instance: `mailfleet instance run NAME [-c FILE]` forked from the
 * same entry point, with an IPC channel. The child inherits stdout/stderr (its log lines share the
 * supervisor's streams) and the working directory, so it finds the same config the same way.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const CLI_PATH = fileURLToPath(new URL("../../bin/mailfleet.js", import.meta.url));

/** `configPath` null: the child loads the default (mailfleet.yaml in cwd or the built-in one). */
export function forkInstance(name: string, configPath: string | null): ChildProcess {
  const args = ["instance", "run", name, ...(configPath === null ? [] : ["-c", configPath])];
  // --expose-gc: one full collection after spool recovery returns its garbage (instance.ts).
  return fork(CLI_PATH, args, {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: [...process.execArgv, "--expose-gc"],
  });
}
