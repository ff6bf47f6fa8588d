/**
 * Durable state of automatic isolation: <spool>/isolation.json holds the isolated tenants and the
 * last events. Every change is written aside, fsync'd and renamed before it resolves, so an
 * isolation survives a crash or restart; one writer (the process holding the spool lock).
 */
import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type { IsolationEvent, IsolationRecord } from "./isolation-types.ts";

export const ISOLATION_FILE = "isolation.json";
const MAX_EVENTS = 100;

export interface IsolationStore {
  get(tenant: string): IsolationRecord | undefined;
  all(): IsolationRecord[];
  events(): IsolationEvent[];
  isolate(record: IsolationRecord): Promise<void>;
  /** Returns the record that was removed, or null when the tenant was not isolated. */
  release(tenant: string, at: number): Promise<IsolationRecord | null>;
}

export async function openIsolationStore(spoolDir: string): Promise<IsolationStore> {
  const path = join(spoolDir, ISOLATION_FILE);
  const isolated = new Map<string, IsolationRecord>();
  let events: IsolationEvent[] = [];
  try {
    const saved = JSON.parse(await readFile(path, "utf8")) as {
      isolated: IsolationRecord[];
      events: IsolationEvent[];
    };
    for (const r of saved.isolated) isolated.set(r.tenant, r);
    events = saved.events ?? [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  let writing: Promise<void> = Promise.resolve();
  const save = () => {
    // Chained: two snapshots never interleave their renames.
    const text = JSON.stringify({ version: 1, isolated: [...isolated.values()], events });
    writing = writing
      .catch(() => {})
      .then(async () => {
        const tmp = `${path}.tmp`;
        const fh = await open(tmp, "w");
        try {
          await fh.writeFile(text);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, path);
      });
    return writing;
  };
  const remember = (event: IsolationEvent) => {
    events.push(event);
    if (events.length > MAX_EVENTS) events = events.slice(-MAX_EVENTS);
  };
  return {
    get: (tenant) => isolated.get(tenant),
    all: () => [...isolated.values()],
    events: () => [...events],
    async isolate(record) {
      isolated.set(record.tenant, record);
      remember({ kind: "isolated", ...record });
      await save();
    },
    async release(tenant, at) {
      const record = isolated.get(tenant);
      if (!record) return null;
      isolated.delete(tenant);
      remember({ ...record, kind: "released", reason: "released by the operator", at });
      await save();
      return record;
    },
  };
}
