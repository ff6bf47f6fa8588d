/**
 * Failed-AUTH limiting per client IP: after `maxFailures` failed attempts within `windowMs`, the
 * client's further AUTH attempts are refused (450 4.7.1) until the oldest failure ages out. This
 * makes password guessing slow without locking out the account itself (an attacker cannot lock a
 * real user out by failing on purpose from elsewhere).
 *
 * In memory for now, behind a small interface that a shared store (e.g. Redis) can implement for
 * a fleet of hosts. Memory is bounded: at most `maxFailures` timestamps per client and at most
 * `maxClients` clients (expired entries are swept first, then the oldest are dropped).
 */

export interface AuthFailureLimiter {
  /** True while `client` has used up its failed attempts. */
  isBlocked(client: string, now?: number): boolean;
  recordFailure(client: string, now?: number): void;
}

export interface FailureLimiterOptions {
  maxFailures: number;
  windowMs: number;
  /** How many client addresses are tracked at most (default 100,000). */
  maxClients?: number;
}

export function createMemoryFailureLimiter(options: FailureLimiterOptions): AuthFailureLimiter {
  const { maxFailures, windowMs } = options;
  const maxClients = options.maxClients ?? 100_000;
  /** Client -> failure times, oldest first. */
  const failures = new Map<string, number[]>();

  function recent(client: string, now: number): number[] {
    const times = failures.get(client);
    if (times === undefined) return [];
    while (times.length > 0 && times[0]! <= now - windowMs) times.shift();
    if (times.length === 0) failures.delete(client);
    return times;
  }

  function sweep(now: number): void {
    for (const client of failures.keys()) recent(client, now);
    // Still full of live entries: drop the clients that were inserted first.
    for (const client of failures.keys()) {
      if (failures.size < maxClients) break;
      failures.delete(client);
    }
  }

  return {
    isBlocked(client, now = Date.now()) {
      return maxFailures > 0 && recent(client, now).length >= maxFailures;
    },
    recordFailure(client, now = Date.now()) {
      if (maxFailures <= 0) return;
      const times = recent(client, now);
      if (times.length === 0) {
        if (failures.size >= maxClients) sweep(now);
        failures.set(client, times);
      }
      times.push(now);
      if (times.length > maxFailures) times.shift();
    },
  };
}
