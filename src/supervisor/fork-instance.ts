/**
 * How the supervisor starts one instance: `mailfleet instance run NAME [-c FILE]` forked from the
 * same entry point, with an IPC channel. The child inherits stdout/stderr (its log lines share the
 * supervisor's streams) and the working directory, so it finds the same config the same way.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const CLI_PATH = fileURLToPath(new URL("../../bin/mailfleet.js", import.meta.url));

/**
 * --expose-gc: one full collection after spool recovery returns its garbage (instance.ts).
 * --max-semi-space-size: V8's default young generation lets an instance under load hold
 * 100-150 MiB more than it needs; 8 MiB semi-spaces keep that down, and the extra scavenges
 * cost no measurable throughput (bench S1).
 */
const INSTANCE_NODE_FLAGS = ["--expose-gc", "--max-semi-space-size=8"];

/** `configPath` null: the child loads the default (mailfleet.yaml in cwd or the built-in one). */
export function forkInstance(name: string, configPath: string | null): ChildProcess {
  const args = ["instance", "run", name, ...(configPath === null ? [] : ["-c", configPath])];
  return fork(CLI_PATH, args, {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: [...process.execArgv, ...INSTANCE_NODE_FLAGS],
  });
}
