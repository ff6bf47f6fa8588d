/**
 * mailfleet as the system under test: writes a config per run (fresh spool, fresh ports), runs
 * `node bin/mailfleet.js start -c FILE` as a child process with its stderr in a file (as Postfix
 * logs to a file through postlogd), and reports its peak memory from /proc (VmHWM).
 *
 * S1 is one instance; S2 is mailfleet's equivalent of the postmulti pipeline: an "input" instance
 * relaying over loopback SMTP to an "output" instance that delivers to the sink.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { freePort } from "../test/support/ports.ts";
import { stopChild } from "./load.ts";
import type { RunningSetup, SetupFactory } from "./measure.ts";
import { treeStatusBytes } from "./proc-stats.ts";

export const repoRoot = resolve(import.meta.dirname, "..");
const cliPath = join(repoRoot, "bin/mailfleet.js");

export interface MailfleetConfigOptions {
  dir: string;
  port: number;
  nexthopPort: number;
  /** null: the OS picks the source address. */
  bindAddress: string | null;
  /** Admin API port (S3 needs it for mailq); null disables the API. */
  adminPort?: number | null;
  hostname?: string;
  /** Extra transport keys (YAML flow-map text), e.g. a retry schedule. */
  transportExtra?: string;
}

/** The benchmark's mailfleet.yaml. `admin: { listen: null }` because `admin: null` is refused (exit 78). */
export function writeMailfleetConfig(o: MailfleetConfigOptions): string {
  mkdirSync(o.dir, { recursive: true });
  const bind = o.bindAddress ? `, bind_address: ${o.bindAddress}` : "";
  const extra = o.transportExtra ? `, ${o.transportExtra}` : "";
  const admin = o.adminPort ? `"127.0.0.1:${o.adminPort}"` : "null";
  const yaml = [
    `hostname: ${o.hostname ?? "bench.test"}`,
    `spool_dir: ${join(o.dir, "spool")}`,
    `listen: ["127.0.0.1:${o.port}"]`,
    "limits: { min_free_disk: 100MiB }",
    "delivery: { allow_private_destinations: true }",
    "transports:",
    `  mx: { nexthop: "[127.0.0.1]:${o.nexthopPort}"${bind}, concurrency: 50, max_messages_per_connection: 1000, idle_timeout: 5s${extra} }`,
    `log: { file: ${join(o.dir, "delivery.log")} }`,
    `admin: { listen: ${admin} }`,
    "",
  ].join("\n");
  const path = join(o.dir, "mailfleet.yaml");
  writeFileSync(path, yaml);
  return path;
}

export interface MailfleetProcess {
  child: ChildProcess;
  /** Holds mailfleet.yaml, spool/, delivery.log and mailfleet.stderr. */
  dir: string;
  pid: number;
  /** performance.now() at spawn and when "listening on" appeared on stderr. */
  spawnedAt: number;
  listeningAt: number;
  /** Resolves with a description when the process exits before stop() was called. */
  died: Promise<string>;
  stderrTail(chars?: number): string;
  stop(): Promise<void>;
}

/** Spawns `mailfleet start -c configPath`; resolves once stderr says "listening on". */
export async function startMailfleetProcess(
  configPath: string,
  dir: string,
  timeoutMs = 30_000,
): Promise<MailfleetProcess> {
  const stderrPath = join(dir, "mailfleet.stderr");
  const fd = openSync(stderrPath, "a");
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [cliPath, "start", "-c", configPath], {
    cwd: repoRoot,
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const stderrTail = (chars = 2000) => {
    try {
      return readFileSync(stderrPath, "utf8").slice(-chars);
    } catch {
      return "";
    }
  };
  let stopping = false;
  const died = new Promise<string>((resolveDied) => {
    child.once("exit", (code, signal) => {
      if (!stopping) resolveDied(`mailfleet exited (${code ?? signal}); stderr tail:\n${stderrTail(1500)}`);
    });
  });
  const deadline = Date.now() + timeoutMs;
  let listeningAt: number | null = null;
  // Poll the stderr file: a pipe would add the harness's own CPU to the MTA's loop.
  while (listeningAt === null) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `mailfleet exited (${child.exitCode ?? child.signalCode}) before listening:\n${stderrTail()}`,
      );
    }
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`mailfleet did not print "listening on" within ${timeoutMs} ms:\n${stderrTail()}`);
    }
    if (/listening on/.test(stderrTail(1_000_000))) listeningAt = performance.now();
    else await new Promise((r) => setTimeout(r, 20));
  }
  return {
    child,
    dir,
    pid: child.pid!,
    spawnedAt,
    listeningAt,
    died,
    stderrTail,
    stop: () => {
      stopping = true;
      return stopChild(child, 15_000);
    },
  };
}

function instanceSetup(port: number, processes: MailfleetProcess[]): RunningSetup {
  return {
    port,
    pids: () => processes.filter((p) => p.child.exitCode === null).map((p) => p.pid),
    // `mailfleet start` is a supervisor: the instances are its children, so sum over the tree.
    peakRssBytes: () =>
      treeStatusBytes(
        processes.map((p) => p.pid),
        "VmHWM",
      ),
    died: Promise.race(processes.map((p) => p.died)),
    outcomes: () => Object.assign({}, ...processes.map((p) => deliveryLogCounts(p.dir))),
    async stop() {
      for (const p of processes) await p.stop();
    },
  };
}

/** Delivery-log lines per event ("received", "delivered", "deferred", ...), keyed by instance dir name. */
function deliveryLogCounts(dir: string): Record<string, number> {
  const name = basename(dir);
  const counts: Record<string, number> = {};
  let text = "";
  try {
    text = readFileSync(join(dir, "delivery.log"), "utf8");
  } catch {
    return counts;
  }
  for (const line of text.split("\n")) {
    const event = line.split(" ")[3]; // time, instance, id, event
    if (!event) continue;
    counts[`${name}.${event}`] = (counts[`${name}.${event}`] ?? 0) + 1;
    if (event === "delivered" && line.includes(" source=127.0.0.2 ")) {
      counts[`${name}.delivered_from_127.0.0.2`] = (counts[`${name}.delivered_from_127.0.0.2`] ?? 0) + 1;
    }
  }
  return counts;
}

export interface MailfleetPeer {
  relay: SetupFactory;
  pipeline: SetupFactory;
}

export function createMailfleetPeer(options: { workDir: string }): MailfleetPeer {
  let runNo = 0;
  const runDir = (what: string) => join(options.workDir, `mailfleet-${what}-${++runNo}`);
  return {
    async relay(sinkPort) {
      const dir = runDir("relay");
      const port = await freePort();
      const config = writeMailfleetConfig({ dir, port, nexthopPort: sinkPort, bindAddress: "127.0.0.2" });
      return instanceSetup(port, [await startMailfleetProcess(config, dir)]);
    },
    async pipeline(sinkPort) {
      const dir = runDir("pipeline");
      const outPort = await freePort();
      const outDir = join(dir, "output");
      const outConfig = writeMailfleetConfig({
        dir: outDir,
        port: outPort,
        nexthopPort: sinkPort,
        bindAddress: "127.0.0.2",
        hostname: "output.bench.test",
      });
      const output = await startMailfleetProcess(outConfig, outDir);
      const port = await freePort();
      const inDir = join(dir, "input");
      const inConfig = writeMailfleetConfig({
        dir: inDir,
        port,
        nexthopPort: outPort,
        bindAddress: "127.0.0.2",
        hostname: "input.bench.test",
      });
      let input: MailfleetProcess;
      try {
        input = await startMailfleetProcess(inConfig, inDir);
      } catch (err) {
        await output.stop();
        throw err;
      }
      return instanceSetup(port, [input, output]);
    },
  };
}
