/**
 * Helpers for the supervisor's unit tests (not production code): a spawn function that forks
 * fake-instance.ts with a behaviour per instance name, configs, and a bounded wait.
 */
import { type ChildProcess, fork } from "node:child_process";
import pino from "pino";
import { builtinConfig } from "../config/load.ts";
import type { Config, FleetConfig } from "../config/types.ts";

const FAKE = new URL("./fake-instance.ts", import.meta.url);

export const silentLogger = pino({ level: "silent" });

export const fastBackoff = { initialMs: 50, maxMs: 200, resetAfterMs: 60_000 };

/** Forks the fake instance; `modes` says how each instance behaves (read at each spawn). */
export function fakeSpawner(modes: Map<string, string>): {
  spawn(name: string): ChildProcess;
  /** Every message each instance received, in order. */
  received: Map<string, unknown[]>;
} {
  const received = new Map<string, unknown[]>();
  return {
    received,
    spawn(name) {
      const child = fork(FAKE, [modes.get(name) ?? "ok"], {
        stdio: ["ignore", "pipe", "inherit", "ipc"],
        execArgv: [],
      });
      let partial = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop() ?? "";
        const list = received.get(name) ?? [];
        list.push(...lines.map((l) => JSON.parse(l) as unknown));
        received.set(name, list);
      });
      return child;
    },
  };
}

export function instanceConfig(
  name: string,
  over: Partial<Config["instance"]> = {},
  dir = "/srv/mf",
): Config {
  const base = builtinConfig(dir);
  return {
    ...base,
    spoolDir: `${dir}/spool/${name}`,
    instance: { name, role: "output", enabled: true, relayTo: null, ...over },
  };
}

export function fleetOf(instances: Config[], dir = "/srv/mf"): FleetConfig {
  const base = builtinConfig(dir);
  return {
    source: `${dir}/mailfleet.yaml`,
    runDir: `${dir}/run`,
    log: base.log,
    instances: Object.fromEntries(instances.map((c) => [c.instance.name, c])),
  };
}

/** Polls until `probe` is true; throws after `timeoutMs`. */
export async function waitFor(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
