/**
 * Reads /proc to account for an MTA's cost: CPU seconds of a whole process tree (live processes
 * plus the children they already reaped, via cutime/cstime) and memory (VmRSS/VmHWM). Linux only.
 *
 * CPU of a tree is measured as a delta of "sum over the tree of utime+stime+cutime+cstime". A child
 * that exits between the two snapshots is counted exactly once: its time moves into its parent's
 * cutime/cstime when reaped, and its own start value was in the first snapshot.
 */
import { readdirSync, readFileSync } from "node:fs";

const CLOCK_TICKS = 100; // USER_HZ; 100 on every Linux build we run on

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, seconds. */
  cpuSeconds: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null; // exited meanwhile
  }
  // The command name may contain spaces and parentheses: fields start after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); ppid is field 4; utime..cstime are fields 14..17.
  const num = (field: number) => Number(fields[field - 3]);
  return {
    pid,
    ppid: num(4),
    cpuSeconds: (num(14) + num(15) + num(16) + num(17)) / CLOCK_TICKS,
  };
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** The given roots and all their live descendants. */
export function processTree(roots: number[]): number[] {
  const stats = allPids()
    .map(readStat)
    .filter((s) => s !== null);
  const children = new Map<number, number[]>();
  for (const s of stats) {
    const list = children.get(s.ppid) ?? [];
    list.push(s.pid);
    children.set(s.ppid, list);
  }
  const seen = new Set<number>();
  const stack = roots.filter((pid) => stats.some((s) => s.pid === pid));
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return [...seen];
}

/** Total CPU seconds (user+sys, reaped children included) of the trees under `roots`. */
export function treeCpuSeconds(roots: number[]): number {
  let total = 0;
  for (const pid of processTree(roots)) total += readStat(pid)?.cpuSeconds ?? 0;
  return total;
}

/** A field of /proc/PID/status in bytes (VmRSS, VmHWM), or 0 when the process is gone. */
export function statusBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Proportional set size of one process (shared pages split among their users), bytes. */
export function pssBytes(pid: number): number {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Sum of PSS over the trees under `roots`, bytes: what the tree really occupies in RAM. */
export function treePssBytes(roots: number[]): number {
  let total = 0;
  for (const pid of processTree(roots)) total += pssBytes(pid);
  return total;
}

/** Sum of VmRSS (now) or VmHWM (peak) over the trees under `roots`, bytes. */
export function treeStatusBytes(roots: number[], field: "VmRSS" | "VmHWM"): number {
  let total = 0;
  for (const pid of processTree(roots)) total += statusBytes(pid, field);
  return total;
}

/** Busy and total jiffies of all CPUs (steal counted as busy, like the anchors' "sys cores"). */
export function systemCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

export interface MemorySample {
  /** Highest summed VmRSS seen (shared pages counted once per process: overstates many-process MTAs). */
  rssBytes: number;
  /** Highest summed PSS seen (shared pages split: comparable between one process and two hundred). */
  pssBytes: number;
}

export interface MemorySampler {
  stop(): MemorySample;
}

/** Samples the trees' summed VmRSS and PSS every `intervalMs` and keeps the maxima. */
export function sampleTreeMemory(roots: () => number[], intervalMs = 500): MemorySampler {
  const peak: MemorySample = { rssBytes: 0, pssBytes: 0 };
  const sample = () => {
    let rss = 0;
    let pss = 0;
    for (const pid of processTree(roots())) {
      rss += statusBytes(pid, "VmRSS");
      pss += pssBytes(pid);
    }
    peak.rssBytes = Math.max(peak.rssBytes, rss);
    peak.pssBytes = Math.max(peak.pssBytes, pss);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { ...peak };
    },
  };
}
