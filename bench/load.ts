/**
 * The load generator and the sink, identical for every setup: Postfix's smtp-source injects,
 * smtp-sink receives and counts. The sink's `-c` counters ("sess=N quit=N mesg=N\r", rewritten
 * after every session end, QUIT and final dot) are how end-to-end completion is observed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { canConnect } from "../test/support/ports.ts";
import { postfixTool } from "../test/support/postfix-tools.ts";

export interface CountingSink {
  port: number;
  /** Messages the sink has received (final dot seen) so far. */
  count(): number;
  /** Resolves with the time (performance.now()) the count reached `n`, or null after `timeoutMs`. */
  waitForCount(n: number, timeoutMs: number): Promise<number | null>;
  stop(): Promise<void>;
}

/** `smtp-sink -u nobody -c -m 1024 127.0.0.1:PORT 1024`, as in the anchors. */
export async function startCountingSink(port: number): Promise<CountingSink> {
  const tool = postfixTool("smtp-sink");
  const child = spawn(tool.path, ["-u", "nobody", "-c", "-m", "1024", `127.0.0.1:${port}`, "1024"], {
    env: tool.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let count = 0;
  let tail = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding("latin1");
  child.stdout!.on("data", (chunk: string) => {
    tail = (tail + chunk).slice(-200);
    const all = [...tail.matchAll(/mesg=(\d+)/g)];
    const last = all.at(-1);
    if (last) count = Math.max(count, Number(last[1]));
    for (const w of waiters) w();
  });
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  await waitForPort(port, child, () => stderr);
  return {
    port,
    count: () => count,
    waitForCount: (n, timeoutMs) =>
      new Promise((resolve) => {
        const check = () => {
          if (count >= n) {
            done(performance.now());
          }
        };
        const timer = setTimeout(() => done(null), timeoutMs);
        const done = (at: number | null) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(at);
        };
        waiters.add(check);
        check();
      }),
    stop: () => stopChild(child),
  };
}

/** Waits (at most 5 s) until something accepts TCP connections on 127.0.0.1:port. */
async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`smtp-sink exited (${child.exitCode}): ${stderr()}`);
    const ok = await canConnect("127.0.0.1", port);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`smtp-sink did not listen on 127.0.0.1:${port} within 5 s: ${stderr()}`);
}

export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export interface SourceResult {
  /** performance.now() when smtp-source exited. */
  endedAt: number;
  code: number | null;
  stderr: string;
}

export interface SourceRun {
  startedAt: number;
  done: Promise<SourceResult>;
}

/**
 * `smtp-source -s 20 -m N -l 4096 -f bench@source.example -t rcpt@sink.example -M client.example
 * 127.0.0.1:PORT`: a new connection per message. Killed after `timeoutMs`.
 */
export function runSource(port: number, messages: number, timeoutMs: number): SourceRun {
  const tool = postfixTool("smtp-source");
  const args = ["-s", "20", "-m", String(messages), "-l", "4096", "-f", "bench@source.example"];
  args.push("-t", "rcpt@sink.example", "-M", "client.example", `127.0.0.1:${port}`);
  const startedAt = performance.now();
  const child = spawn(tool.path, args, { env: tool.env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const done = new Promise<SourceResult>((resolve) => {
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ endedAt: performance.now(), code, stderr });
    });
  });
  return { startedAt, done };
}
