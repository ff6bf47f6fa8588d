/**
 * Counters behind the inbound rate limits: events per sliding window (connections, messages,
 * recipients per minute) and concurrent holders (open connections). The listener's policy only
 * talks to the `RateLimitStore` interface, so a shared backend (Redis: INCR + EXPIRE on two keys
 * per window, INCR/DECR for slots) can replace the in-memory one without touching the checks.
 *
 * The window is a sliding-window counter: the count of the current fixed window plus the previous
 * window's count weighted by how much of it still overlaps the sliding window. That is O(1) memory
 * per key, and exact until a window boundary is crossed. Memory is bounded: keys idle for two
 * windows are dropped, and past `maxKeys` the least recently used key goes first.
 */

export interface TakeResult {
  allowed: boolean;
  /** Estimated events in the sliding window, this one included when allowed. */
  count: number;
}

export interface RateLimitStore {
  /** Counts one event for `key` unless `limit` events already happened in the last `windowMs`. */
  take(key: string, limit: number, windowMs: number): Promise<TakeResult>;
  /** Takes one of `limit` concurrent slots of `key`; false when all are held. */
  acquire(key: string, limit: number): Promise<boolean>;
  /** Gives back a slot taken with acquire. */
  release(key: string): Promise<void>;
}

export interface MemoryStoreOptions {
  /** Milliseconds since some epoch; injectable for tests. */
  now?: () => number;
  /** Most window keys kept (default 100 000). */
  maxKeys?: number;
}

interface Window {
  windowMs: number;
  /** Start of the current fixed window (a multiple of windowMs). */
  start: number;
  current: number;
  previous: number;
  lastSeen: number;
}

export interface MemoryRateLimitStore extends RateLimitStore {
  /** Window keys and slot keys held right now (for tests and metrics). */
  readonly size: { windows: number; slots: number };
}

export function createMemoryRateLimitStore(options: MemoryStoreOptions = {}): MemoryRateLimitStore {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 100_000;
  /** Insertion order = least recently used first (a used key is deleted and set again). */
  const windows = new Map<string, Window>();
  const slots = new Map<string, number>();

  /** Drops idle keys from the old end, then the oldest ones beyond maxKeys. */
  function evict(at: number): void {
    for (const [key, w] of windows) {
      if (windows.size <= maxKeys && at - w.lastSeen < 2 * w.windowMs) break;
      windows.delete(key);
    }
  }

  function roll(w: Window, at: number): void {
    const start = Math.floor(at / w.windowMs) * w.windowMs;
    if (start === w.start) return;
    w.previous = start - w.start === w.windowMs ? w.current : 0;
    w.current = 0;
    w.start = start;
  }

  return {
    async take(key, limit, windowMs) {
      const at = now();
      let w = windows.get(key);
      if (w === undefined || w.windowMs !== windowMs) {
        w = { windowMs, start: Math.floor(at / windowMs) * windowMs, current: 0, previous: 0, lastSeen: at };
      } else {
        windows.delete(key);
        roll(w, at);
      }
      w.lastSeen = at;
      windows.set(key, w);
      const overlap = 1 - (at - w.start) / windowMs;
      const count = w.previous * overlap + w.current;
      evict(at);
      if (count + 1 > limit) return { allowed: false, count };
      w.current++;
      return { allowed: true, count: count + 1 };
    },
    async acquire(key, limit) {
      const held = slots.get(key) ?? 0;
      if (held >= limit) return false;
      slots.set(key, held + 1);
      return true;
    },
    async release(key) {
      const held = slots.get(key) ?? 0;
      if (held <= 1) slots.delete(key);
      else slots.set(key, held - 1);
    },
    get size() {
      return { windows: windows.size, slots: slots.size };
    },
  };
}
