/**
 * Due-time queue: messages waiting for their next attempt, ordered by when they are due.
 * A binary min-heap keyed by time; removing or rescheduling an id is lazy (stale heap entries
 * are skipped when popped), so every operation stays O(log n) even with a million entries.
 *
 * Memory matters at that scale: the heap is three parallel arrays (times as unboxed doubles,
 * ids, and small-integer versions) instead of an object per entry, and the live version of an
 * id is a small integer too, not a boxed time. An entry is live when its version is the id's.
 */
import type { QueueId } from "../message/types.ts";

/** Versions wrap well inside V8's small-integer range. */
const VERSION_LIMIT = 0x3fffffff;

export class DueQueue {
  #times: number[] = [];
  #ids: QueueId[] = [];
  #versions: number[] = [];
  /** The live version per scheduled id. */
  #live = new Map<QueueId, number>();
  #nextVersion = 0;

  get size(): number {
    return this.#live.size;
  }

  has(id: QueueId): boolean {
    return this.#live.has(id);
  }

  /** Adds or reschedules `id`. */
  schedule(id: QueueId, dueAt: number): void {
    const version = this.#nextVersion;
    this.#nextVersion = version === VERSION_LIMIT ? 0 : version + 1;
    this.#live.set(id, version);
    this.#push(dueAt, id, version);
  }

  remove(id: QueueId): void {
    this.#live.delete(id);
  }

  /** Time of the earliest live entry, or null when empty. */
  nextDueAt(): number | null {
    this.#dropStale();
    return this.#times.length > 0 ? this.#times[0]! : null;
  }

  /** Removes and returns up to `limit` ids due at or before `now`, earliest first. */
  takeDue(now: number, limit: number): QueueId[] {
    const out: QueueId[] = [];
    while (out.length < limit) {
      this.#dropStale();
      if (this.#times.length === 0 || this.#times[0]! > now) break;
      const id = this.#ids[0]!;
      this.#pop();
      this.#live.delete(id);
      out.push(id);
    }
    return out;
  }

  #dropStale(): void {
    while (this.#ids.length > 0 && this.#live.get(this.#ids[0]!) !== this.#versions[0]) this.#pop();
  }

  #push(dueAt: number, id: QueueId, version: number): void {
    const times = this.#times;
    const ids = this.#ids;
    const versions = this.#versions;
    let i = times.length;
    times.push(dueAt);
    ids.push(id);
    versions.push(version);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= dueAt) break;
      this.#move(parent, i);
      i = parent;
    }
    times[i] = dueAt;
    ids[i] = id;
    versions[i] = version;
  }

  #pop(): void {
    const times = this.#times;
    const ids = this.#ids;
    const versions = this.#versions;
    const lastTime = times.pop();
    const lastId = ids.pop();
    const lastVersion = versions.pop();
    if (lastTime === undefined || lastId === undefined || lastVersion === undefined || times.length === 0)
      return;
    const n = times.length;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && times[right]! < times[left]! ? right : left;
      if (times[child]! >= lastTime) break;
      this.#move(child, i);
      i = child;
    }
    times[i] = lastTime;
    ids[i] = lastId;
    versions[i] = lastVersion;
  }

  #move(from: number, to: number): void {
    this.#times[to] = this.#times[from]!;
    this.#ids[to] = this.#ids[from]!;
    this.#versions[to] = this.#versions[from]!;
  }
}
