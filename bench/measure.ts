/**
 * One measured run, the same procedure for every setup: start a fresh counting sink, let the setup
 * start (its start-up is not timed), snapshot CPU, run smtp-source at the setup's port, and stop
 * the clock when the sink has counted every message. The setup is stopped afterwards.
 */
import { freePort } from "../test/support/ports.ts";
import { runSource, startCountingSink } from "./load.ts";
import { sampleTreeMemory, systemCpu, treeCpuSeconds } from "./proc-stats.ts";

/** What a setup (an MTA, two MTAs, or nothing) exposes to the measurement. */
export interface RunningSetup {
  /** Where smtp-source connects. */
  port: number;
  /** Roots of the process trees whose CPU and memory count as the MTA's ([] for the direct path). */
  pids(): number[];
  /** Exact peak RSS where the setup knows it (mailfleet: VmHWM per process), summed; else null. */
  peakRssBytes(): number | null;
  /** Per-run outcome counts from the MTA's own log (delivered, deferred, ...), read before stop(). */
  outcomes?(): Record<string, number>;
  /** Resolves (with why) if the MTA dies during the run; the run is then cut short. */
  died?: Promise<string>;
  stop(): Promise<void>;
}

/** Starts a setup that delivers to the sink on `sinkPort`. */
export type SetupFactory = (sinkPort: number) => Promise<RunningSetup>;

export interface RunResult {
  messages: number;
  /** Messages the sink counted (== messages unless the run timed out). */
  delivered: number;
  injectSeconds: number;
  e2eSeconds: number | null;
  injectRate: number;
  e2eRate: number | null;
  /** CPU seconds of the MTA's process tree per 1,000 messages (null for the direct path). */
  cpuSecondsPer1000: number | null;
  /** Exact peak where known (mailfleet: VmHWM, summed over instances), else the sampled tree PSS peak. */
  peakRssBytes: number | null;
  /** How peakRssBytes was obtained. */
  peakRssMethod: "VmHWM" | "sampled-tree-PSS" | null;
  /** Peak of summed PSS over the MTA's tree, sampled every 0.5 s (same method for every setup). */
  sampledTreePssBytes: number | null;
  /** Peak of summed VmRSS over the MTA's tree, sampled every 0.5 s (double-counts shared pages). */
  sampledTreeRssBytes: number | null;
  /** Busy CPUs (steal included) averaged over the e2e time; 2.0 = both cores saturated. */
  systemCores: number;
  /** Messages the sink had when smtp-source finished (how far delivery lagged behind). */
  deliveredAtInjectEnd: number;
  sourceExit: number | null;
  /** From the MTA's log: did every message go out exactly once, and nothing defer or bounce? */
  outcomes: Record<string, number> | null;
  error: string | null;
}

export async function measureRun(setup: SetupFactory, messages: number): Promise<RunResult> {
  const sinkPort = await freePort();
  const sink = await startCountingSink(sinkPort);
  let running: RunningSetup | null = null;
  try {
    running = await setup(sinkPort);
    const pids = running.pids;
    const cpuBefore = pids().length > 0 ? treeCpuSeconds(pids()) : 0;
    const sysBefore = systemCpu();
    const memory = pids().length > 0 ? sampleTreeMemory(pids) : null;
    // Generous bounds: well below 20 msgs/s something is broken, not slow.
    const timeoutMs = Math.max(60_000, messages * 50);
    const source = runSource(running.port, messages, timeoutMs);
    let death: string | null = null;
    const died = running.died?.then((why) => {
      death = why;
      return null;
    });
    const sinkDone = Promise.race([sink.waitForCount(messages, timeoutMs), ...(died ? [died] : [])]);
    const sourceResult = await source.done;
    const deliveredAtInjectEnd = sink.count();
    const doneAt = await sinkDone;
    const cpuAfter = pids().length > 0 ? treeCpuSeconds(pids()) : 0;
    const sysAfter = systemCpu();
    const sampled = memory?.stop() ?? null;
    const exactPeak = running.peakRssBytes();
    // The MTA may still be writing its log lines for the last deliveries.
    await new Promise((r) => setTimeout(r, 300));
    const outcomes = running.outcomes?.() ?? null;
    const injectSeconds = (sourceResult.endedAt - source.startedAt) / 1000;
    const e2eSeconds = doneAt === null ? null : (doneAt - source.startedAt) / 1000;
    const sysWall = ((doneAt ?? performance.now()) - source.startedAt) / 1000;
    let error: string | null = null;
    if (death !== null) {
      error = death;
    } else if (sourceResult.code !== 0) {
      error = `smtp-source exited ${sourceResult.code}: ${sourceResult.stderr.trim().slice(-500)}`;
    } else if (doneAt === null) {
      error = `sink counted ${sink.count()}/${messages} within ${timeoutMs / 1000} s`;
    }
    return {
      messages,
      delivered: sink.count(),
      injectSeconds,
      e2eSeconds,
      injectRate: messages / injectSeconds,
      e2eRate: e2eSeconds === null ? null : messages / e2eSeconds,
      cpuSecondsPer1000:
        pids().length > 0 || cpuAfter > 0 ? ((cpuAfter - cpuBefore) / messages) * 1000 : null,
      peakRssBytes: exactPeak ?? sampled?.pssBytes ?? null,
      peakRssMethod: exactPeak !== null ? "VmHWM" : sampled !== null ? "sampled-tree-PSS" : null,
      sampledTreePssBytes: sampled?.pssBytes ?? null,
      sampledTreeRssBytes: sampled?.rssBytes ?? null,
      systemCores: (sysAfter.busy - sysBefore.busy) / 100 / sysWall,
      deliveredAtInjectEnd,
      sourceExit: sourceResult.code,
      outcomes,
      error,
    };
  } finally {
    await running?.stop();
    await sink.stop();
  }
}
