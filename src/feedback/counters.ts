/**
 * Reputation counters: delivered, deferred, bounced (by class) and complaints, per source IP,
 * per tenant and per destination provider, over sliding 1 h / 24 h / 7 d windows. Events fall
 * into 5-minute buckets kept for 7 days, so memory is bounded by keys x 2016 buckets (and the
 * number of keys by `maxKeys`, least recently touched dropped first). The whole state is
 * snapshotted to <feedback dir>/counters.json (write aside, fsync, rename) every `flushEveryMs`,
 * after each ingested report (`flush`) and on close, and read back on open: counters survive a
 * restart. The clock is injected for tests.
 */
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type {
  ReputationCounts,
  ReputationReport,
  ReputationRow,
  ReputationWindow,
} from "../api-types/feedback.ts";
import type { BounceClass, FeedbackEvent } from "./types.ts";

export const BUCKET_MS = 5 * 60_000;
export const WINDOWS: Record<ReputationWindow, number> = {
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
};
const RETAIN_MS = WINDOWS["7d"];

type Dimension = ReputationRow["dimension"];
/** Compact bucket: [delivered, deferred, complaints, bounced-by-class]. */
type Bucket = [number, number, number, Partial<Record<BounceClass, number>>];

/** Key written for mail without a tenant, IP or provider. */
export const UNKNOWN = "-";

export interface Counters {
  record(event: FeedbackEvent): void;
  report(filter?: { ip?: string; tenant?: string; provider?: string }): Omit<ReputationReport, "instance">;
  /** Writes the snapshot now (durable when it resolves). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface CountersOptions {
  dir: string;
  now?: () => number;
  flushEveryMs?: number;
  maxKeys?: number;
}

export async function openCounters(options: CountersOptions): Promise<Counters> {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 20_000;
  const path = join(options.dir, "counters.json");
  await mkdir(options.dir, { recursive: true });
  /** "dimension\tkey" -> bucket number -> bucket. */
  const series = new Map<string, Map<number, Bucket>>();
  try {
    const saved = JSON.parse(await readFile(path, "utf8")) as { series: [string, [number, Bucket][]][] };
    for (const [key, buckets] of saved.series) series.set(key, new Map(buckets));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }

  const prune = (buckets: Map<number, Bucket>, oldest: number) => {
    for (const n of buckets.keys()) if (n < oldest) buckets.delete(n);
  };

  const add = (dimension: Dimension, key: string, event: FeedbackEvent) => {
    const id = `${dimension}\t${key}`;
    let buckets = series.get(id);
    if (buckets)
      series.delete(id); // re-inserted below: Map order = least recently touched first
    else buckets = new Map();
    series.set(id, buckets);
    if (series.size > maxKeys) series.delete(series.keys().next().value as string);
    const n = Math.floor(event.at / BUCKET_MS);
    let b = buckets.get(n);
    if (!b) {
      b = [0, 0, 0, {}];
      buckets.set(n, b);
      prune(buckets, Math.floor((now() - RETAIN_MS) / BUCKET_MS));
    }
    if (event.kind === "delivered") b[0]++;
    else if (event.kind === "deferred") b[1]++;
    else if (event.kind === "complaint") b[2]++;
    else {
      const c = event.bounceClass ?? "other";
      b[3][c] = (b[3][c] ?? 0) + 1;
    }
  };

  const sum = (buckets: Map<number, Bucket>, since: number): ReputationCounts => {
    const out: ReputationCounts = {
      delivered: 0,
      deferred: 0,
      bounced: 0,
      bouncedByClass: {},
      complaints: 0,
    };
    const first = Math.floor(since / BUCKET_MS);
    for (const [n, b] of buckets) {
      if (n < first) continue;
      out.delivered += b[0];
      out.deferred += b[1];
      out.complaints += b[2];
      for (const [c, v] of Object.entries(b[3]) as [BounceClass, number][]) {
        out.bounced += v;
        out.bouncedByClass[c] = (out.bouncedByClass[c] ?? 0) + v;
      }
    }
    return out;
  };

  let writing: Promise<void> = Promise.resolve();
  const flush = () => {
    // Chained: two snapshots never interleave their renames.
    writing = writing.then(async () => {
      const oldest = Math.floor((now() - RETAIN_MS) / BUCKET_MS);
      const out: [string, [number, Bucket][]][] = [];
      for (const [key, buckets] of series) {
        prune(buckets, oldest);
        if (buckets.size > 0) out.push([key, [...buckets]]);
      }
      const tmp = `${path}.tmp`;
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(JSON.stringify({ version: 1, savedAt: now(), series: out }));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    });
    return writing;
  };
  const timer = setInterval(() => {
    flush().catch(() => {});
  }, options.flushEveryMs ?? 60_000);
  timer.unref();

  return {
    record(event) {
      add("ip", event.sourceIp ?? UNKNOWN, event);
      add("tenant", event.tenant ?? UNKNOWN, event);
      add("provider", event.provider ?? UNKNOWN, event);
    },
    report(filter = {}) {
      const at = now();
      const rows: ReputationRow[] = [];
      for (const [id, buckets] of series) {
        const [dimension, key] = id.split("\t") as [Dimension, string];
        if (filter.ip !== undefined && !(dimension === "ip" && key === filter.ip)) continue;
        if (filter.tenant !== undefined && !(dimension === "tenant" && key === filter.tenant)) continue;
        if (filter.provider !== undefined && !(dimension === "provider" && key === filter.provider)) continue;
        const windows = {
          "1h": sum(buckets, at - WINDOWS["1h"]),
          "24h": sum(buckets, at - WINDOWS["24h"]),
          "7d": sum(buckets, at - WINDOWS["7d"]),
        };
        if (
          Object.values(windows["7d"]).every(
            (v) => v === 0 || (typeof v === "object" && Object.keys(v).length === 0),
          )
        )
          continue;
        rows.push({ dimension, key, windows });
      }
      const order: Dimension[] = ["ip", "tenant", "provider"];
      rows.sort(
        (a, b) => order.indexOf(a.dimension) - order.indexOf(b.dimension) || a.key.localeCompare(b.key),
      );
      return { at, bucketMs: BUCKET_MS, rows };
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
