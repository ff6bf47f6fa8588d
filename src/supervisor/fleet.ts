/**
 * The supervisor's model of the fleet: one InstanceProcess per configured instance, started,
 * stopped and reloaded as the config and the operator say. Reloads and instance actions run one
 * at a time (a queue), so two reloads never interleave; status and the fleet stop do not wait in
 * that queue. Errors meant for the API caller are FleetError with a stable code.
 */
import type { ChildProcess } from "node:child_process";
import type { Logger } from "pino";
import type { FleetStatus, InstanceActionResult, ReloadResult } from "../api-types/fleet.ts";
import type { Config, FleetConfig } from "../config/types.ts";
import { type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff.ts";
import { InstanceProcess, type StartOutcome } from "./child-process.ts";
import { planReload } from "./reload-plan.ts";

export type FleetLoadResult = { ok: true; fleet: FleetConfig } | { ok: false; errors: string[] };

export interface FleetDeps {
  config: FleetConfig;
  /** Re-reads and checks the config file; errors already formatted (file:line:col ...). */
  loadConfig(): FleetLoadResult;
  /** Forks the process of one instance. */
  spawnInstance(name: string): ChildProcess;
  logger: Logger;
  backoff?: BackoffPolicy;
  /** Graceful stop deadline per process before SIGKILL (default 30 s). */
  stopDeadlineMs?: number;
  /** How long a start waits for the process to listen (default 60 s). */
  readyTimeoutMs?: number;
  /** How long status waits for a process's queue size (default 2 s). */
  statsTimeoutMs?: number;
  now?: () => number;
}

export type FleetErrorCode = "UNKNOWN_INSTANCE" | "INSTANCE_DISABLED" | "FLEET_STOPPING";

export class FleetError extends Error {
  readonly code: FleetErrorCode;
  constructor(code: FleetErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface StartReport {
  name: string;
  outcome: StartOutcome;
}

export class Fleet {
  readonly #deps: FleetDeps;
  readonly #startedAt: number;
  #config: FleetConfig;
  /** Configured instances in file order, plus removed ones until they have stopped. */
  #instances = new Map<string, InstanceProcess>();
  #queue: Promise<unknown> = Promise.resolve();
  #stopping: Promise<void> | null = null;

  constructor(deps: FleetDeps) {
    this.#deps = deps;
    this.#config = deps.config;
    this.#startedAt = (deps.now ?? Date.now)();
    for (const [name, config] of Object.entries(deps.config.instances)) this.#add(name, config);
  }

  get config(): FleetConfig {
    return this.#config;
  }

  /** Starts every enabled instance at once; each report says whether it came up. */
  startAll(): Promise<StartReport[]> {
    return this.#serial(async () => {
      const enabled = [...this.#instances.values()].filter((p) => p.config.instance.enabled);
      return Promise.all(enabled.map(async (p) => ({ name: p.name, outcome: await p.start(this.#readyMs) })));
    });
  }

  async status(): Promise<FleetStatus> {
    const statsMs = this.#deps.statsTimeoutMs ?? 2000;
    const instances = await Promise.all(
      [...this.#instances.values()].map(async (p) => p.status(await p.queued(statsMs))),
    );
    return {
      pid: process.pid,
      startedAt: new Date(this.#startedAt).toISOString(),
      configSource: this.#config.source,
      instances,
    };
  }

  /** Re-reads the config and applies the difference (see reload-plan.ts). */
  reload(): Promise<ReloadResult> {
    return this.#serial(async () => {
      this.#refuseWhenStopping();
      const result: ReloadResult = {
        ok: true,
        errors: [],
        started: [],
        stopped: [],
        restarted: [],
        reloaded: [],
      };
      const loaded = this.#deps.loadConfig();
      if (!loaded.ok) {
        for (const error of loaded.errors)
          this.#deps.logger.error({ error }, "reload refused: config invalid");
        return { ...result, ok: false, errors: loaded.errors };
      }
      const next = loaded.fleet;
      if (next.runDir !== this.#config.runDir) {
        this.#deps.logger.warn({ runDir: next.runDir }, "run_dir changes apply when the supervisor restarts");
      }
      const plan = planReload(this.#config, next);
      this.#config = { ...next, runDir: this.#config.runDir };
      for (const [name, config] of Object.entries(next.instances)) {
        const existing = this.#instances.get(name);
        if (existing) existing.config = config;
        else this.#add(name, config);
      }
      this.#reorder(Object.keys(next.instances));

      // Stop first, so a port or spool handed from one instance to another is free for it.
      // Only instances meant to run are touched: one the operator stopped stays stopped.
      const restart = plan.restart.filter((r) => this.#get(r.name).wanted);
      for (const r of restart) {
        this.#deps.logger.info(
          { instance: r.name, changed: r.changed },
          "restarting: settings need a new process",
        );
      }
      const stop = plan.stop.filter((name) => this.#get(name).wanted || this.#get(name).pid !== null);
      await Promise.all([...stop, ...restart.map((r) => r.name)].map((name) => this.#get(name).stop()));
      result.stopped = stop;
      for (const name of plan.stop) if (!(name in next.instances)) this.#instances.delete(name);

      if (this.#stopping) return result;
      const starts = [...plan.start, ...restart.map((r) => r.name)];
      const outcomes = await Promise.all(starts.map((name) => this.#get(name).start(this.#readyMs)));
      starts.forEach((name, i) => {
        const outcome = outcomes[i];
        if (outcome && !outcome.ok) {
          result.errors.push(
            `instance ${name} did not start (${outcome.exit}); it is restarted with backoff`,
          );
        }
      });
      result.started = plan.start;
      result.restarted = restart.map((r) => r.name);
      result.reloaded = plan.reload.filter((name) => this.#get(name).reload());
      result.ok = result.errors.length === 0;
      this.#deps.logger.info(result, "configuration reloaded");
      return result;
    });
  }

  startInstance(name: string): Promise<InstanceActionResult> {
    return this.#serial(async () => {
      this.#refuseWhenStopping();
      const p = this.#known(name);
      if (!p.config.instance.enabled) {
        throw new FleetError(
          "INSTANCE_DISABLED",
          `instance ${name} is disabled in the config (enable it, then reload)`,
        );
      }
      const outcome = await p.start(this.#readyMs);
      return { ok: outcome.ok, instance: p.status(await p.queued(this.#deps.statsTimeoutMs ?? 2000)) };
    });
  }

  stopInstance(name: string): Promise<InstanceActionResult> {
    return this.#serial(async () => {
      this.#refuseWhenStopping();
      const p = this.#known(name);
      await p.stop();
      return { ok: true, instance: p.status() };
    });
  }

  /** Graceful stop of every instance; idempotent. Afterwards nothing is restarted. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const stopAll = () => Promise.all([...this.#instances.values()].map((p) => p.stop()));
      await stopAll();
      // A reload or instance start in progress may have spawned a process meanwhile.
      await this.#queue;
      await stopAll();
    })();
    return this.#stopping;
  }

  get #readyMs(): number {
    return this.#deps.readyTimeoutMs ?? 60_000;
  }

  #add(name: string, config: Config): void {
    const p = new InstanceProcess({
      name,
      config,
      spawn: () => this.#deps.spawnInstance(name),
      logger: this.#deps.logger,
      backoff: this.#deps.backoff ?? DEFAULT_BACKOFF,
      stopDeadlineMs: this.#deps.stopDeadlineMs ?? 30_000,
      ...(this.#deps.now ? { now: this.#deps.now } : {}),
    });
    this.#instances.set(name, p);
  }

  /** File order for status; instances no longer configured (still stopping) go last. */
  #reorder(order: string[]): void {
    const sorted = new Map<string, InstanceProcess>();
    for (const name of order) sorted.set(name, this.#get(name));
    for (const [name, p] of this.#instances) if (!sorted.has(name)) sorted.set(name, p);
    this.#instances = sorted;
  }

  #get(name: string): InstanceProcess {
    const p = this.#instances.get(name);
    if (!p) throw new Error(`internal: no instance ${name}`);
    return p;
  }

  #known(name: string): InstanceProcess {
    const p = this.#instances.get(name);
    if (p && name in this.#config.instances) return p;
    const known = Object.keys(this.#config.instances).join(", ") || "none";
    throw new FleetError("UNKNOWN_INSTANCE", `no instance named "${name}" (configured: ${known})`);
  }

  #refuseWhenStopping(): void {
    if (this.#stopping) throw new FleetError("FLEET_STOPPING", "the fleet is stopping");
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
