/**
 * One supervised instance: its OS process (forked by the supervisor), what state it is in, and
 * the crash-restart logic. An unexpected exit schedules a restart with exponential backoff; a
 * stop asked for (operator, reload, fleet stop) is graceful over IPC, with SIGKILL only after a
 * generous deadline. Everything a status line shows (pid, uptime, listeners, restarts, last exit)
 * lives here.
 */
import type { ChildProcess } from "node:child_process";
import type { Logger } from "pino";
import type { InstanceState, InstanceStatus } from "../api-types/fleet.ts";
import type { Config } from "../config/types.ts";
import { type BackoffPolicy, nextRestartDelay } from "./backoff.ts";
import { isFromInstance, type ToInstance } from "./ipc.ts";

export interface InstanceProcessDeps {
  name: string;
  config: Config;
  /** Starts the process (child_process.fork with an IPC channel). */
  spawn(): ChildProcess;
  logger: Logger;
  backoff: BackoffPolicy;
  /** How long a graceful stop may take before SIGKILL. */
  stopDeadlineMs: number;
  now?: () => number;
}

/** How a start ended: listening, or the process exited (or never got ready) first. */
export type StartOutcome = { ok: true; pid: number } | { ok: false; exit: string; code: number | null };

export class InstanceProcess {
  readonly name: string;
  /** This instance's section of the config the supervisor runs with (replaced on reload). */
  config: Config;
  readonly #deps: InstanceProcessDeps;
  readonly #now: () => number;
  #child: ChildProcess | null = null;
  /** Only "starting", "running" or "stopping" while #child is set; see `state` for the rest. */
  #phase: "starting" | "running" | "stopping" = "starting";
  /** Should be running: an unexpected exit is restarted while this is true. */
  #wanted = false;
  #startedAt: number | null = null;
  #restarts = 0;
  #lastExit: string | null = null;
  #lastDelayMs: number | null = null;
  #restartTimer: NodeJS.Timeout | null = null;
  #killTimer: NodeJS.Timeout | null = null;
  #listeners: string[] = [];
  #readyWaiters: ((outcome: StartOutcome) => void)[] = [];
  #exitWaiters: (() => void)[] = [];
  #stats = new Map<number, (queued: number | null) => void>();
  #nextStatsId = 1;

  constructor(deps: InstanceProcessDeps) {
    this.#deps = deps;
    this.name = deps.name;
    this.config = deps.config;
    this.#now = deps.now ?? Date.now;
  }

  get state(): InstanceState {
    if (this.#child) return this.#phase;
    if (this.#restartTimer) return "backoff";
    return this.config.instance.enabled ? "stopped" : "disabled";
  }

  /** True while it runs, is starting, or waits to be restarted after a crash. */
  get wanted(): boolean {
    return this.#wanted;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Starts the process unless it runs already; resolves once it listens or has exited. */
  async start(readyTimeoutMs: number): Promise<StartOutcome> {
    this.#wanted = true;
    if (this.#child && this.#phase === "stopping") await this.#waitExit();
    if (!this.#wanted) return { ok: false, exit: "stopped before it started", code: null };
    if (this.#child && this.#phase === "running") return { ok: true, pid: this.#child.pid ?? 0 };
    if (!this.#child) {
      this.#clearRestartTimer();
      this.#spawn();
    }
    return this.#waitReady(readyTimeoutMs);
  }

  /** Graceful stop; the instance then stays stopped (no crash restart) until started again. */
  async stop(): Promise<void> {
    this.#wanted = false;
    this.#clearRestartTimer();
    const child = this.#child;
    if (!child) return;
    if (this.#phase !== "stopping") {
      this.#phase = "stopping";
      this.#sendStop(child);
      this.#killTimer = setTimeout(() => {
        this.#deps.logger.error(
          { instance: this.name, instancePid: child.pid, deadlineMs: this.#deps.stopDeadlineMs },
          "instance did not stop in time: SIGKILL",
        );
        child.kill("SIGKILL");
      }, this.#deps.stopDeadlineMs);
    }
    await this.#waitExit();
  }

  /** Tells a live process to re-read its config; false when there is none to tell. */
  reload(): boolean {
    const child = this.#child;
    if (!child || this.#phase === "stopping") return false;
    return this.#send(child, { type: "reload" });
  }

  /** Queue size from the process, or null when it is not running or does not answer in time. */
  queued(timeoutMs: number): Promise<number | null> {
    const child = this.#child;
    if (!child || this.#phase !== "running") return Promise.resolve(null);
    const id = this.#nextStatsId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#stats.delete(id);
        resolve(null);
      }, timeoutMs);
      this.#stats.set(id, (queued) => {
        clearTimeout(timer);
        this.#stats.delete(id);
        resolve(queued);
      });
      if (!this.#send(child, { type: "stats", id })) this.#stats.get(id)?.(null);
    });
  }

  status(queued: number | null = null): InstanceStatus {
    const startedAt = this.#child ? this.#startedAt : null;
    return {
      name: this.name,
      role: this.config.instance.role,
      enabled: this.config.instance.enabled,
      state: this.state,
      pid: this.pid,
      startedAt: startedAt === null ? null : new Date(startedAt).toISOString(),
      uptimeSeconds: startedAt === null ? null : Math.floor((this.#now() - startedAt) / 1000),
      restarts: this.#restarts,
      lastExit: this.#lastExit,
      listeners: [...this.#listeners],
      queued,
      spoolDir: this.config.spoolDir,
    };
  }

  #spawn(): void {
    const child = this.#deps.spawn();
    this.#child = child;
    this.#phase = "starting";
    this.#startedAt = this.#now();
    this.#listeners = [];
    child.on("message", (message: unknown) => this.#onMessage(child, message));
    child.on("error", (err) => {
      this.#deps.logger.error({ err, instance: this.name }, "instance process error");
      // A process that could not be spawned has no pid and may never emit "exit".
      if (child.pid === undefined) this.#onExit(child, null, null, `spawn failed: ${err.message}`);
    });
    child.once("exit", (code, signal) => this.#onExit(child, code, signal));
    this.#deps.logger.info({ instance: this.name, instancePid: child.pid }, "instance process started");
  }

  #onMessage(child: ChildProcess, message: unknown): void {
    if (child !== this.#child || !isFromInstance(message)) return;
    if (message.type === "stats") {
      this.#stats.get(message.id)?.(message.queued);
      return;
    }
    this.#listeners = message.listeners;
    if (this.#phase === "stopping") {
      // The stop may have arrived before the process listened on its channel: say it again.
      this.#sendStop(child);
      return;
    }
    this.#phase = "running";
    const waiters = this.#readyWaiters.splice(0);
    for (const resolve of waiters) resolve({ ok: true, pid: child.pid ?? 0 });
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, why?: string): void {
    if (child !== this.#child) return;
    const uptimeMs = this.#now() - (this.#startedAt ?? this.#now());
    const expected = this.#phase === "stopping";
    const exit = why ?? (code !== null ? `exit ${code}` : `signal ${signal ?? "unknown"}`);
    this.#child = null;
    this.#startedAt = null;
    this.#listeners = [];
    this.#lastExit = exit;
    if (this.#killTimer) clearTimeout(this.#killTimer);
    this.#killTimer = null;
    for (const answer of [...this.#stats.values()]) answer(null);
    for (const resolve of this.#readyWaiters.splice(0)) resolve({ ok: false, exit, code });
    for (const resolve of this.#exitWaiters.splice(0)) resolve();
    if (expected) {
      this.#deps.logger.info({ instance: this.name, instancePid: child.pid, exit }, "instance stopped");
      return;
    }
    if (!this.#wanted) return;
    const delayMs = nextRestartDelay(this.#deps.backoff, this.#lastDelayMs, uptimeMs);
    this.#lastDelayMs = delayMs;
    this.#deps.logger.error(
      { instance: this.name, instancePid: child.pid, exit, uptimeMs, restartInMs: delayMs },
      "instance exited unexpectedly: restarting after a delay",
    );
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      this.#restarts++;
      this.#spawn();
    }, delayMs);
  }

  #waitReady(timeoutMs: number): Promise<StartOutcome> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const index = this.#readyWaiters.indexOf(done);
        if (index >= 0) this.#readyWaiters.splice(index, 1);
        resolve({ ok: false, exit: `not listening after ${timeoutMs} ms`, code: null });
      }, timeoutMs);
      const done = (outcome: StartOutcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      this.#readyWaiters.push(done);
    });
  }

  #waitExit(): Promise<void> {
    if (!this.#child) return Promise.resolve();
    return new Promise((resolve) => this.#exitWaiters.push(resolve));
  }

  /** Over IPC, or SIGTERM (which the instance also takes as a graceful stop) when that fails. */
  #sendStop(child: ChildProcess): void {
    const sent = this.#send(child, { type: "stop" }, () => child.kill("SIGTERM"));
    if (!sent) child.kill("SIGTERM");
  }

  /** Sends over IPC; false when the channel is closed (the process is exiting or wedged). */
  #send(child: ChildProcess, message: ToInstance, onError?: () => void): boolean {
    if (!child.connected) return false;
    child.send(message, (err) => {
      if (!err) return;
      this.#deps.logger.warn({ err, instance: this.name }, "IPC send to instance failed");
      onError?.();
    });
    return true;
  }

  #clearRestartTimer(): void {
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
  }
}
