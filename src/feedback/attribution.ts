/**
 * Attribution store: what is known about each sent message that a later bounce or complaint
 * must be pinned on: its tenant, and per transaction the source IP, transport, provider and
 * recipients. One JSONL file per instance (<feedback dir>/attribution.jsonl): records are
 * appended as they happen (not fsync'd: losing the last instants on a crash only leaves a few
 * reports unattributed), replayed on open, and compacted then to the retention (7 days by
 * default). Memory is bounded by `maxMessages` (oldest dropped first).
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface SendRecord {
  /** Recipient indexes and addresses of the transaction. */
  recipients: { index: number; address: string }[];
  sourceIp: string | null;
  transport: string | null;
  provider: string | null;
  at: number;
}

export interface Attribution {
  queueId: string;
  tenant: string | null;
  sender: string | null;
  sends: SendRecord[];
  at: number;
}

type Line =
  | { t: "send"; id: string; sender: string; send: SendRecord }
  | { t: "tenant"; id: string; tenant: string; at: number };

export interface AttributionStore {
  recordSend(queueId: string, sender: string, send: SendRecord): void;
  recordTenant(queueId: string, tenant: string, at: number): void;
  get(queueId: string): Attribution | null;
  close(): Promise<void>;
}

export interface AttributionOptions {
  dir: string;
  retentionMs?: number;
  maxMessages?: number;
  compactEveryMs?: number;
  now?: () => number;
}

const DAY = 86_400_000;

export async function openAttributionStore(options: AttributionOptions): Promise<AttributionStore> {
  const now = options.now ?? Date.now;
  const retention = options.retentionMs ?? 7 * DAY;
  const max = options.maxMessages ?? 500_000;
  const path = join(options.dir, "attribution.jsonl");
  const byId = new Map<string, Attribution>();
  await mkdir(options.dir, { recursive: true });

  const apply = (line: Line) => {
    let entry = byId.get(line.id);
    if (!entry) {
      entry = {
        queueId: line.id,
        tenant: null,
        sender: null,
        sends: [],
        at: line.t === "send" ? line.send.at : line.at,
      };
      byId.set(line.id, entry);
      if (byId.size > max) byId.delete(byId.keys().next().value as string);
    }
    if (line.t === "send") {
      entry.sender = line.sender;
      if (entry.sends.length < 50) entry.sends.push(line.send);
    } else entry.tenant = line.tenant;
  };

  let text = "";
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const cutoff = now() - retention;
  const kept: string[] = [];
  for (const raw of text.split("\n")) {
    if (raw === "") continue;
    try {
      const line = JSON.parse(raw) as Line;
      const at = line.t === "send" ? line.send.at : line.at;
      if (at < cutoff) continue;
      apply(line);
      kept.push(raw);
    } catch {
      // A torn last line after a crash: skipped.
    }
  }
  let out: WriteStream | null = null;
  /** Lines written while a compaction swaps the file; appended to the new one. */
  let held: Line[] | null = null;
  const openStream = () => {
    const stream = createWriteStream(path, { flags: "a" });
    stream.on("error", () => {}); // best effort: attribution never stops delivery
    return stream;
  };
  /** Rewrites the file with what is still within the retention (write aside, then rename). */
  const compact = async (lines: string[]) => {
    held = [];
    await new Promise<void>((resolve) => (out ? out.end(() => resolve()) : resolve()));
    try {
      await writeFile(`${path}.tmp`, lines.length > 0 ? `${lines.join("\n")}\n` : "");
      await rename(`${path}.tmp`, path);
    } finally {
      out = openStream();
      for (const line of held) out.write(`${JSON.stringify(line)}\n`);
      held = null;
    }
  };
  const currentLines = (): string[] => {
    const cutoff = now() - retention;
    const lines: string[] = [];
    for (const entry of byId.values()) {
      if (entry.at < cutoff) {
        byId.delete(entry.queueId);
        continue;
      }
      if (entry.tenant !== null)
        lines.push(JSON.stringify({ t: "tenant", id: entry.queueId, tenant: entry.tenant, at: entry.at }));
      for (const send of entry.sends)
        lines.push(JSON.stringify({ t: "send", id: entry.queueId, sender: entry.sender ?? "", send }));
    }
    return lines;
  };
  await compact(kept);
  /** The compaction under way, if any: one at a time, and close() waits for it. */
  let compacting: Promise<void> | null = null;
  // The file only grows between compactions: one a day keeps it near the retention's size.
  const timer = setInterval(() => {
    if (compacting) return;
    compacting = compact(currentLines())
      .catch(() => {})
      .finally(() => {
        compacting = null;
      });
  }, options.compactEveryMs ?? DAY);
  timer.unref();
  const append = (line: Line) => {
    apply(line);
    if (held) held.push(line);
    else out?.write(`${JSON.stringify(line)}\n`);
  };

  return {
    recordSend(queueId, sender, send) {
      append({ t: "send", id: queueId, sender, send });
    },
    recordTenant(queueId, tenant, at) {
      if (byId.get(queueId)?.tenant === tenant) return;
      append({ t: "tenant", id: queueId, tenant, at });
    },
    get(queueId) {
      const entry = byId.get(queueId.toUpperCase());
      if (!entry || entry.at < now() - retention) return null;
      return entry;
    },
    async close() {
      clearInterval(timer);
      await compacting;
      await new Promise<void>((resolve) => (out ? out.end(() => resolve()) : resolve()));
    },
  };
}

/** The send record that covers `recipientIndex` (the latest), or the latest of all. */
export function sendFor(entry: Attribution, recipientIndex: number | null): SendRecord | null {
  const sends = [...entry.sends].reverse();
  if (recipientIndex !== null) {
    const hit = sends.find((s) => s.recipients.some((r) => r.index === recipientIndex));
    if (hit) return hit;
  }
  return sends[0] ?? null;
}
