/**
 * The durable per-tenant suppression list of one instance: `<spool>/suppression.jsonl`, an
 * append-only journal of `{"op":"add",...entry}` and `{"op":"remove",tenant,address,at}` lines,
 * each fsync'd before add/remove resolve. Opening replays the journal (a torn last line from a
 * crash is dropped) and compacts it: the live entries are written to a temporary file, fsync'd,
 * and renamed over the journal, so the file never grows past one line per entry plus the changes
 * since the last start. Lookups are in memory (one Map), so the RCPT check costs no I/O.
 *
 * Addresses are compared lower-cased; a tenant is a name or null (mail without a tenant), and
 * each tenant has its own list: suppressing x@y for tenant "a" does not affect tenant "b".
 */
import { type FileHandle, open, rename } from "node:fs/promises";
import { dirname } from "node:path";
import type { SuppressionEntry, SuppressionList, SuppressionReason } from "./types.ts";

export const SUPPRESSION_FILE = "suppression.jsonl";

const REASONS: ReadonlySet<string> = new Set<SuppressionReason>(["hard_bounce", "complaint", "manual"]);

export interface FileSuppressionList extends SuppressionList {
  /** Where the journal lives. */
  readonly file: string;
  /** The entry that suppresses this address for this tenant, or null. */
  get(tenant: string | null, address: string): SuppressionEntry | null;
  close(): Promise<void>;
}

function keyOf(tenant: string | null, address: string): string {
  return `${tenant ?? ""}\u0000${address.toLowerCase()}`;
}

/** Lower-case, trimmed, without angle brackets. */
export function normalizeAddress(address: string): string {
  return address
    .trim()
    .replace(/^<(.*)>$/, "$1")
    .toLowerCase();
}

function isEntry(value: Record<string, unknown>): boolean {
  return (
    (value.tenant === null || typeof value.tenant === "string") &&
    typeof value.address === "string" &&
    REASONS.has(String(value.reason)) &&
    typeof value.addedAt === "number" &&
    typeof value.detail === "string"
  );
}

/** Replays journal text into live entries; lines that do not parse are skipped and counted. */
export function replayJournal(text: string): { entries: Map<string, SuppressionEntry>; skipped: number } {
  const entries = new Map<string, SuppressionEntry>();
  let skipped = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      skipped++;
      continue;
    }
    if (value.op === "add" && isEntry(value)) {
      const entry: SuppressionEntry = {
        tenant: value.tenant as string | null,
        address: normalizeAddress(value.address as string),
        reason: value.reason as SuppressionReason,
        addedAt: value.addedAt as number,
        detail: value.detail as string,
      };
      entries.set(keyOf(entry.tenant, entry.address), entry);
    } else if (value.op === "remove" && typeof value.address === "string") {
      entries.delete(keyOf(typeof value.tenant === "string" ? value.tenant : null, value.address));
    } else skipped++;
  }
  return { entries, skipped };
}

async function readText(file: string): Promise<string> {
  try {
    const handle = await open(file, "r");
    try {
      return await handle.readFile("utf8");
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Opens (creating when missing) and compacts the journal at `file`. */
export async function openSuppressionList(
  file: string,
  options: { now?: () => number; onSkipped?: (count: number) => void } = {},
): Promise<FileSuppressionList> {
  const { entries, skipped } = replayJournal(await readText(file));
  if (skipped > 0) options.onSkipped?.(skipped);
  // Compact: the live entries only, written aside and renamed over the journal.
  const temp = `${file}.tmp`;
  const compacted = await open(temp, "w", 0o600);
  try {
    const lines = [...entries.values()].map((e) => `${JSON.stringify({ op: "add", ...e })}\n`).join("");
    await compacted.writeFile(lines, "utf8");
    await compacted.sync();
  } finally {
    await compacted.close();
  }
  await rename(temp, file);
  await syncDir(dirname(file));
  let journal: FileHandle | null = await open(file, "a", 0o600);
  /** Appends run one after another, so lines never interleave and each is durable in order. */
  let tail: Promise<void> = Promise.resolve();

  function append(record: object): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    const run = tail.then(async () => {
      if (journal === null) throw new Error("suppression list is closed");
      await journal.write(line);
      await journal.datasync();
    });
    tail = run.catch(() => {});
    return run;
  }

  const list: FileSuppressionList = {
    file,
    has(tenant, address) {
      return entries.has(keyOf(tenant, normalizeAddress(address)));
    },
    async add(entry) {
      const clean = { ...entry, address: normalizeAddress(entry.address) };
      const key = keyOf(clean.tenant, clean.address);
      if (entries.has(key)) return;
      entries.set(key, clean);
      try {
        await append({ op: "add", ...clean });
      } catch (err) {
        entries.delete(key);
        throw err;
      }
    },
    async remove(tenant, address) {
      const clean = normalizeAddress(address);
      const key = keyOf(tenant, clean);
      const entry = entries.get(key);
      if (entry === undefined) return false;
      entries.delete(key);
      try {
        await append({ op: "remove", tenant, address: clean, at: (options.now ?? Date.now)() });
      } catch (err) {
        entries.set(key, entry);
        throw err;
      }
      return true;
    },
    list(tenant) {
      const all = [...entries.values()];
      const picked = tenant === undefined ? all : all.filter((e) => e.tenant === tenant);
      return picked.sort(
        (a, b) => (a.tenant ?? "").localeCompare(b.tenant ?? "") || a.address.localeCompare(b.address),
      );
    },
    get(tenant, address) {
      return entries.get(keyOf(tenant, normalizeAddress(address))) ?? null;
    },
    async close() {
      await tail;
      const handle = journal;
      journal = null;
      await handle?.close();
    },
  };
  return list;
}
