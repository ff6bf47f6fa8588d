/**
 * Warm-up facts for `mailfleet route explain`: for one candidate source IP and the resolved
 * site, the provider the site belongs to and where the IP stands in its warm-up for it. The
 * running instance's rows (GET /v1/warmup) give today's use; without them the day and cap are
 * worked out from the config alone (use unknown).
 */
import { DEFAULT_PROVIDERS } from "../config/schema-warmup.ts";
import type { Config } from "../config/types.ts";
import type { WarmupRow } from "./warmup.ts";
import { capOn, providerOfHosts, warmupDay } from "./warmup-schedule.ts";

export interface CandidateWarmup {
  provider: string;
  day: number;
  cap: number | null;
  /** Messages carried today; null when the instance did not answer. */
  used: number | null;
  warm: boolean;
  overflow: "warm_ips" | "wait";
  text: string;
}

export function candidateWarmup(
  config: Config,
  address: string | null,
  hostNames: string[],
  rows: WarmupRow[] | null,
  now: number,
): CandidateWarmup | null {
  if (address === null) return null;
  const provider = providerOfHosts(hostNames, config.providers ?? DEFAULT_PROVIDERS);
  const source = Object.values(config.sources).find((s) => s.address === address && s.warmup);
  const warmup = source?.warmup;
  if (!warmup) return null;
  const schedule = warmup.schedules[provider] ?? warmup.schedules.default;
  if (!schedule) return null;
  const row = rows?.find((r) => r.address === address && r.provider === provider) ?? null;
  const day = row?.day ?? warmupDay(warmup.startDate, now);
  const cap = row ? row.cap : capOn(schedule, day);
  const used = row ? row.used : null;
  const { overflow } = warmup;
  let text: string;
  if (cap === null) text = `warm for ${provider} (warm-up schedule done on day ${day})`;
  else if (day < 1) text = `warm-up for ${provider} not started (cap 0); overflow ${overflow}`;
  else if (used === null) text = `warming for ${provider}: day ${day}, cap ${cap}/day; overflow ${overflow}`;
  else if (used >= cap)
    text = `warm-up cap reached for ${provider}: day ${day}, ${used}/${cap}; overflow ${overflow}`;
  else text = `warming for ${provider}: day ${day}, ${used}/${cap} used today; overflow ${overflow}`;
  return { provider, day, cap, used, warm: cap === null, overflow, text };
}
