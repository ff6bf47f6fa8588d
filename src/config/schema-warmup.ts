/**
 * The YAML schema of IP warm-up (issue #8): a source's `warmup:` (start date, overflow mode and
 * one schedule per destination provider) and the fleet-wide `providers:` that name providers by
 * their MX host patterns. Normalised into WarmupConfig (src/config/types.ts); the schedule math
 * and the caps live in src/reputation/warmup*.ts.
 */
import { z } from "zod";

import { addExpected, type IssueSink, value } from "./schema-value.ts";
import type { WarmupConfig, WarmupSchedule } from "./types.ts";
import { isHostname } from "./values.ts";

export const OVERFLOW_MODES = ["warm_ips", "wait"] as const;
/** The schedule key used for destinations of no named provider. */
export const DEFAULT_PROVIDER = "default";

/** Shipped provider groups; a `providers:` entry of the same name replaces one, others add. */
export const DEFAULT_PROVIDERS: Readonly<Record<string, readonly string[]>> = {
  google: ["*.google.com", "*.googlemail.com"],
  yahoo: ["*.yahoodns.net", "*.yahoo.com"],
  microsoft: ["*.outlook.com", "*.protection.outlook.com", "*.hotmail.com"],
};

const MX_EXPECTED = 'an MX host name such as mx.example.com, or a pattern such as "*.google.com"';
const DATE_EXPECTED = "a date such as 2026-11-01 (day 1 of the warm-up, UTC)";
const SCHEDULE_EXPECTED =
  "either days: [messages per day, ...] or start, growth and ceiling (e.g. start: 50, growth: 1.5, ceiling: 100000)";

/**
 * "*.google.com" or an exact host name; lower-case, no trailing dot. (As schema-routing.ts's
 * parseMxPattern; not imported from there, because that file imports this one.)
 */
function parseMxPattern(text: string): string | undefined {
  const lower = text.toLowerCase().replace(/\.$/, "");
  const bare = lower.startsWith("*.") ? lower.slice(2) : lower;
  return isHostname(bare) && !bare.endsWith(".") ? lower : undefined;
}

/** "2026-11-01" (or a YAML date) -> Unix ms of 00:00 UTC that day. */
export function parseStartDate(input: unknown): number | undefined {
  if (input instanceof Date && !Number.isNaN(input.getTime())) {
    return Date.UTC(input.getUTCFullYear(), input.getUTCMonth(), input.getUTCDate());
  }
  if (typeof input !== "string") return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(input.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const at = Date.UTC(y, mo - 1, d);
  const back = new Date(at);
  return back.getUTCMonth() === mo - 1 && back.getUTCDate() === d ? at : undefined;
}

const scheduleSchema = z
  .strictObject({
    days: z.array(z.number().int().min(0)).min(1).optional(),
    start: z.number().int().min(1).optional(),
    growth: z.number().min(1).optional(),
    ceiling: z.number().int().min(1).optional(),
  })
  .transform((s, ctx): WarmupSchedule => {
    const growthKeys = [s.start, s.growth, s.ceiling].filter((v) => v !== undefined).length;
    if (s.days !== undefined && growthKeys === 0) return { kind: "table", days: s.days };
    if (s.days === undefined && growthKeys === 3) {
      return { kind: "growth", start: s.start!, growth: s.growth!, ceiling: s.ceiling! };
    }
    ctx.issues.push({
      code: "custom",
      input: s,
      message: `expected ${SCHEDULE_EXPECTED}`,
      params: { expected: SCHEDULE_EXPECTED },
    });
    return z.NEVER;
  });

export const warmupSchema = z
  .strictObject({
    start_date: value(DATE_EXPECTED, parseStartDate),
    overflow: z.enum(OVERFLOW_MODES).default("warm_ips"),
    schedules: z.record(z.string(), scheduleSchema),
  })
  .transform(
    (w): WarmupConfig => ({
      startDate: w.start_date,
      overflow: w.overflow,
      schedules: Object.fromEntries(Object.entries(w.schedules).map(([k, v]) => [k.toLowerCase(), v])),
    }),
  );

const mxPattern = value(MX_EXPECTED, (v) => (typeof v === "string" ? parseMxPattern(v.trim()) : undefined));

export const providersSchema = z.record(z.string(), z.array(mxPattern).min(1));

/** The shipped groups with the file's own over them (names lower-cased). */
export function finishProviders(raw: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, patterns] of Object.entries(DEFAULT_PROVIDERS)) out[name] = [...patterns];
  for (const [name, patterns] of Object.entries(raw)) out[name.toLowerCase()] = patterns;
  return out;
}

/** Each schedule must name a configured provider (or "default"). */
export function checkWarmupProviders(
  sources: Record<string, { warmup?: WarmupConfig | undefined }>,
  providers: Record<string, string[]>,
  check: IssueSink,
): void {
  const known = [...Object.keys(finishProviders(providers)), DEFAULT_PROVIDER];
  for (const [name, source] of Object.entries(sources)) {
    for (const key of Object.keys(source.warmup?.schedules ?? {})) {
      if (known.includes(key)) continue;
      const expected = `a provider named under providers: (one of ${known.join(", ")})`;
      addExpected(check, ["sources", name, "warmup", "schedules", key], key, expected);
    }
  }
}
