/**
 * Due-time queue: messages waiting for their next attempt, ordered by when they are due.
 * A binary min-heap keyed by time; removing or rescheduling an id is lazy (stale heap entries
 * are skipped when popped), so every operation stays O(log n) even with a million entries.
 */
import type { QueueId } from "../message/types.ts";

interface Entry {
  dueAt: number;
  id: QueueId;
}

export class DueQueue {
  #heap: Entry[] = [];
  /** The current due time per id; heap entries that disagree are stale. */
  #due = new Map<QueueId, number>();

  get size(): number {
    return this.#due.size;
  }

  has(id: QueueId): boolean {
    return this.#due.has(id);
  }

  /** Adds or reschedules `id`. */
  schedule(id: QueueId, dueAt: number): void {
    this.#due.set(id, dueAt);
    this.#push({ dueAt, id });
  }

  remove(id: QueueId): void {
    this.#due.delete(id);
  }

  /** Time of the earliest live entry, or null when empty. */
  nextDueAt(): number | null {
    this.#dropStale();
    return this.#heap[0]?.dueAt ?? null;
  }

  /** Removes and returns up to `limit` ids due at or before `now`, earliest first. */
  takeDue(now: number, limit: number): QueueId[] {
    const out: QueueId[] = [];
    while (out.length < limit) {
      this.#dropStale();
      const top = this.#heap[0];
      if (!top || top.dueAt > now) break;
      this.#pop();
      this.#due.delete(top.id);
      out.push(top.id);
    }
    return out;
  }

  #dropStale(): void {
    for (;;) {
      const top = this.#heap[0];
      if (!top || this.#due.get(top.id) === top.dueAt) return;
      this.#pop();
    }
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.dueAt <= entry.dueAt) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.dueAt < heap[left]!.dueAt ? right : left;
      if (heap[child]!.dueAt >= last.dueAt) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
