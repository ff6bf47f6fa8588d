/**
 * The warm-up counters: messages started per UTC day x source IP x provider, kept exact and
 * durable. `tryReserve` checks and counts in one synchronous step (so concurrent deliveries can
 * never pass a cap together) and appends the change to a JSONL file with fdatasync before it
 * returns: a crash or restart never forgets a message already on its way. A reservation given
 * back (the attempt never reached the provider) appends a -1. Opening replays the file and
 * rewrites it compacted to the totals of the last few days (temp file, fsync, rename).
 * Only capped (warming) IPs are counted, so warm traffic pays no fsync.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

/** Days of totals kept when the file is compacted (today and the days before). */
const KEEP_DAYS = 3;

export interface WarmupCounters {
  used(day: string, source: string, provider: string): number;
  /** Counts one message when `used < cap`; true when counted (and on disk). */
  tryReserve(day: string, source: string, provider: string, cap: number): boolean;
  /** Gives one counted message back (never below 0). */
  release(day: string, source: string, provider: string): void;
  close(): void;
}

interface Line {
  day: string;
  source: string;
  provider: string;
  delta: number;
}

const keyOf = (day: string, source: string, provider: string) => `${day}|${source}|${provider}`;

export function openWarmupCounters(path: string): WarmupCounters {
  mkdirSync(dirname(path), { recursive: true });
  const counts = new Map<string, number>();
  if (existsSync(path)) {
    for (const text of readFileSync(path, "utf8").split("\n")) {
      if (text.trim() === "") continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        continue; // a torn last line from a crash: the change it described never returned
      }
      if (typeof line.day !== "string" || typeof line.delta !== "number") continue;
      const key = keyOf(line.day, line.source, line.provider);
      counts.set(key, Math.max(0, (counts.get(key) ?? 0) + line.delta));
    }
  }
  compact(path, counts);
  let fd: number | null = openSync(path, "a");

  function append(line: Line): void {
    if (fd === null) throw new Error("warm-up counters are closed");
    writeSync(fd, `${JSON.stringify(line)}\n`);
    fdatasyncSync(fd);
  }

  return {
    used: (day, source, provider) => counts.get(keyOf(day, source, provider)) ?? 0,
    tryReserve(day, source, provider, cap) {
      const key = keyOf(day, source, provider);
      const used = counts.get(key) ?? 0;
      if (used >= cap) return false;
      append({ day, source, provider, delta: 1 });
      counts.set(key, used + 1);
      return true;
    },
    release(day, source, provider) {
      const key = keyOf(day, source, provider);
      const used = counts.get(key) ?? 0;
      if (used <= 0) return;
      append({ day, source, provider, delta: -1 });
      counts.set(key, used - 1);
    },
    close() {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}

/** Rewrites the file with one line per counter of the last KEEP_DAYS days present. */
function compact(path: string, counts: Map<string, number>): void {
  const days = [...new Set([...counts.keys()].map((k) => k.split("|")[0]!))].sort().slice(-KEEP_DAYS);
  const keep = new Set(days);
  let text = "";
  for (const [key, n] of counts) {
    const [day, source, provider] = key.split("|") as [string, string, string];
    if (!keep.has(day)) {
      counts.delete(key);
      continue;
    }
    if (n > 0) text += `${JSON.stringify({ day, source, provider, delta: n })}\n`;
  }
  const temp = `${path}.tmp`;
  const fd = openSync(temp, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
