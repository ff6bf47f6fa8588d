/**
 * Runs a real `mailfleet start` process for e2e tests: writes its config, waits until it
 * listens, collects its delivery log, and can stop it gracefully or kill -9 it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";

export const repoRoot = resolve(import.meta.dirname, "../..");
export const cliPath = join(repoRoot, "bin/mailfleet.js");

export interface MailfleetProcess {
  child: ChildProcess;
  /** Delivery log lines so far (stdout). */
  log: string[];
  stderr(): string;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when `count` lines match `pattern`. */
  waitForLogCount(pattern: RegExp, count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<number | null>;
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

export async function startMailfleet(configPath: string, timeoutMs = 15_000): Promise<MailfleetProcess> {
  const child = spawn(process.execPath, [cliPath, "start", "-c", configPath], {
    stdio: ["ignore", "pipe", "pipe"],
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
  await until(() => /listening on/.test(stderr), "the listener", timeoutMs);
  return {
    child,
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
        if (child.exitCode !== null) return resolvePromise(child.exitCode);
        child.once("exit", (code) => resolvePromise(code));
        child.kill("SIGTERM");
      }),
    kill9: () =>
      new Promise((resolvePromise) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolvePromise();
        child.once("exit", () => resolvePromise());
        child.kill("SIGKILL");
      }),
  };
}
