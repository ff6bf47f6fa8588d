/**
 * Warm-up arithmetic, pure: which warm-up day a moment falls on (UTC days, day 1 = the source's
 * start date), the cap a schedule gives that day (null once the IP is warm), which provider a
 * destination site belongs to (its MX host names against the provider patterns), and when the
 * next UTC day starts (where mail past a cap waits until).
 */
import type { WarmupSchedule } from "../config/types.ts";

export const DAY_MS = 86_400_000;

/** 1 on the start date, 2 the day after...; 0 or less before the start date. */
export function warmupDay(startDate: number, now: number): number {
  return Math.floor((now - startDate) / DAY_MS) + 1;
}

/** The UTC day of `now` as "YYYY-MM-DD" (the counters' key). */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Unix ms of the next 00:00 UTC after `now`. */
export function nextUtcDay(now: number): number {
  return (Math.floor(now / DAY_MS) + 1) * DAY_MS;
}

/**
 * Messages allowed on warm-up day `day`; null = no cap (the IP is warm for this provider).
 * Before day 1 the cap is 0: the warm-up has not begun.
 * A table gives days[day-1] and no cap after its end; a growth schedule gives
 * floor(start x growth^(day-1)), and no cap once that reaches the ceiling.
 */
export function capOn(schedule: WarmupSchedule, day: number): number | null {
  if (day < 1) return 0;
  if (schedule.kind === "table") return day <= schedule.days.length ? schedule.days[day - 1]! : null;
  const value = Math.floor(schedule.start * schedule.growth ** (day - 1));
  return value >= schedule.ceiling ? null : value;
}

export function mxPatternMatches(pattern: string, host: string): boolean {
  return pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) : host === pattern;
}

/**
 * The provider whose patterns match one of the site's MX hosts (most preferred host first,
 * providers in config order); "default" when none does.
 */
export function providerOfHosts(hosts: string[], providers: Record<string, readonly string[]>): string {
  for (const raw of hosts) {
    const host = raw.toLowerCase().replace(/\.$/, "");
    for (const [name, patterns] of Object.entries(providers)) {
      if (patterns.some((p) => mxPatternMatches(p, host))) return name;
    }
  }
  return "default";
}
