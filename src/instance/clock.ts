/**
 * The instance's notion of "now" for everything that counts time in days or hours: warm-up days,
 * backoff suspensions, reputation windows, isolation thresholds. Real time in production.
 *
 * End-to-end tests must show several simulated days in seconds, so a process started with
 * MAILFLEET_TEST_CLOCK=1 gets a clock that can be moved forward (never back) through the admin API
 * (POST /v1/test/clock {"advanceMs": N}). Without that variable the endpoint does not exist.
 * SMTP timeouts and the spool keep using real time: only policy time is simulated.
 */

export interface Clock {
  /** Unix ms. */
  now(): number;
}

export interface InstanceClock extends Clock {
  /** Present only for a test clock. Returns the new now(). */
  advance?: (ms: number) => number;
}

export const TEST_CLOCK_ENV = "MAILFLEET_TEST_CLOCK";

export function createInstanceClock(env: NodeJS.ProcessEnv = process.env): InstanceClock {
  if (env[TEST_CLOCK_ENV] !== "1") return { now: () => Date.now() };
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError("a test clock only moves forward");
      offset += ms;
      return Date.now() + offset;
    },
  };
}
