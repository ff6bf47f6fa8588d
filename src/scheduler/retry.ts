/**
 * Retry timing: when a deferred message is next due, and whether it has outlived its queue lifetime.
 */

/** Delay before attempt number `attempts + 1`, given `attempts` failed ones so far (>= 1). */
export function retryDelay(scheduleMs: readonly number[], attempts: number): number {
  if (scheduleMs.length === 0) return 300_000;
  const step = Math.min(Math.max(attempts, 1), scheduleMs.length) - 1;
  return scheduleMs[step]!;
}

/** True when a message that arrived at `arrivedAt` may no longer be retried at `now`. */
export function isExpired(arrivedAt: number, now: number, maxLifetimeMs: number): boolean {
  return now - arrivedAt >= maxLifetimeMs;
}
