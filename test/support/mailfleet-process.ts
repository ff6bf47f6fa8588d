/**
 * Runs a real `mailfleet start` (the supervisor and its instance processes) for e2e tests: writes
 * its config, waits until every instance listens, collects the delivery log, reads the fleet's
 * status over the control socket, and can stop it gracefully or kill -9 all of it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { FleetStatus } from "../../src/api-types/fleet.ts";
import { controlCall } from "../../src/supervisor/control-call.ts";

export const repoRoot = resolve(import.meta.dirname, "../..");
export const cliPath = join(repoRoot, "bin/mailfleet.js");

export interface MailfleetProcess {
  /** The supervisor process. */
  child: ChildProcess;
  /** Its control socket (from the "fleet started" line). */
  socketPath: string;
  /** GET /v1/status on the control socket. */
  status(): Promise<FleetStatus>;
  /** Delivery log lines so far (stdout). */
  log: string[];
  stderr(): string;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when `count` lines match `pattern`. */
  waitForLogCount(pattern: RegExp, count: number, timeoutMs?: number): Promise<void>;
  /** SIGTERM to the supervisor (graceful stop of the fleet); resolves with its exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL to every instance process (they hold the spools), then to the supervisor. */
  kill9(): Promise<void>;
}

export async function writeConfig(dir: string, yaml: string): Promise<string> {
  const path = join(dir, "mailfleet.yaml");
  await writeFile(path, yaml);
  return path;
}

/** Runs a CLI command to completion. */
export function runCli(
  args: string[],
  options: { input?: string; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: options.cwd ?? repoRoot });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("exit", (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

export async function startMailfleet(
  configPath: string,
  timeoutMs = 15_000,
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<MailfleetProcess> {
  const child = spawn(process.execPath, [cliPath, "start", "-c", configPath], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  const log: string[] = [];
  let stderr = "";
  let partial = "";
  const listeners = new Set<() => void>();
  child.stdout!.on("data", (d: Buffer) => {
    partial += d.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    log.push(...lines);
    for (const l of listeners) l();
  });
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
    for (const l of listeners) l();
  });
  const until = (check: () => boolean, what: string, ms: number) =>
    new Promise<void>((resolvePromise, reject) => {
      const done = () => {
        if (check()) {
          cleanup();
          resolvePromise();
        } else if (child.exitCode !== null) {
          cleanup();
          reject(
            new Error(
              `mailfleet exited (${child.exitCode}) while waiting for ${what}: ${stderr.slice(-2000)}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; stderr: ${stderr.slice(-2000)}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(done);
        child.off("exit", done);
      };
      listeners.add(done);
      child.on("exit", done);
      done();
    });
  await until(() => /fleet started: /.test(stderr), "every instance to listen", timeoutMs);
  const socketPath = /fleet started: .*; control socket (\S+)/.exec(stderr)?.[1] ?? "";
  const status = async (): Promise<FleetStatus> => {
    const answer = await controlCall(socketPath, "GET", "/v1/status", 10_000);
    if (answer.kind !== "answer" || answer.status !== 200) {
      throw new Error(`status from ${socketPath}: ${JSON.stringify(answer)}`);
    }
    return answer.body as FleetStatus;
  };
  return {
    child,
    socketPath,
    status,
    log,
    stderr: () => stderr,
    async waitForLog(pattern, ms = 15_000) {
      await until(() => log.some((l) => pattern.test(l)), `log ${pattern}`, ms);
      return log.find((l) => pattern.test(l))!;
    },
    waitForLogCount: (pattern, count, ms = 30_000) =>
      until(() => log.filter((l) => pattern.test(l)).length >= count, `${count} x log ${pattern}`, ms),
    stop: () =>
      new Promise((resolvePromise) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolvePromise(child.exitCode);
        child.once("exit", (code) => resolvePromise(code));
        child.kill("SIGTERM");
      }),
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const pids = (await status().catch(() => null))?.instances.flatMap((i) =>
        i.pid === null ? [] : [i.pid],
      );
      for (const pid of pids ?? []) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await new Promise<void>((resolvePromise) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolvePromise();
        child.once("exit", () => resolvePromise());
        child.kill("SIGKILL");
      });
      // The instances are not our children: wait (bounded) until the kernel has taken them down.
      const deadline = Date.now() + 5000;
      while ((pids ?? []).some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    },
  };
}

/** A zombie (dead, not yet reaped by its new parent) counts as dead: it holds no sockets. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}
