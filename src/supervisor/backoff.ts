/**
 * Restart delays for crashed instances: exponential backoff (1 s doubling to 60 s), reset once a
 * process has stayed up long enough to count as healthy. Pure, so the policy is tested on its own.
 */

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** A process that ran at least this long before exiting starts the sequence over. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 60_000, resetAfterMs: 60_000 };

/**
 * The delay before the next restart, given the delay used before the last one (null if none yet)
 * and how long the process that just exited had been up.
 */
export function nextRestartDelay(policy: BackoffPolicy, previousMs: number | null, uptimeMs: number): number {
  if (previousMs === null || uptimeMs >= policy.resetAfterMs) return policy.initialMs;
  return Math.min(previousMs * 2, policy.maxMs);
}
