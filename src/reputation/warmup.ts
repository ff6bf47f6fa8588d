/**
 * IP warm-up: daily caps per source IP x destination provider, enforced exactly (issue #8).
 * The scheduler asks `forSite(site)` before it picks a source: the answer's `accept` lets the
 * pool skip IPs whose cap for this provider is used up (overflow: warm_ips), and `reserve`
 * counts the message against the picked IP's cap before it is queued. Past the cap (an IP in
 * `wait` mode, or no member of the pool left), the job is deferred until the next UTC day with
 * scope "source", so it never counts against the destination. A reservation is given back when
 * the attempt never reached the provider (no SMTP transaction: connect or bind failure, dead
 * site, hourly cap, shutdown); once a server answered inside a transaction, it counts.
 * Days are UTC days on the instance clock (a test clock in e2e tests).
 */
import { join } from "node:path";
import { DEFAULT_PROVIDERS } from "../config/schema-warmup.ts";
import type { Config, SourceConfig } from "../config/types.ts";
import type { Site } from "../delivery/types.ts";
import type { RecipientOutcome, Reply } from "../message/types.ts";
import { capOn, nextUtcDay, providerOfHosts, utcDay, warmupDay } from "./warmup-schedule.ts";
import { openWarmupCounters, type WarmupCounters } from "./warmup-store.ts";

/** One source IP x provider as `warmup status` shows it. */
export interface WarmupRow {
  source: string;
  address: string;
  provider: string;
  /** Warm-up day (1 = start date; 0 or less before it). */
  day: number;
  /** Today's cap; null = no cap (warm). */
  cap: number | null;
  used: number;
  remaining: number | null;
  warm: boolean;
  overflow: "warm_ips" | "wait";
}

export interface WarmupReport {
  instance: string;
  /** Instance clock, ISO. */
  now: string;
  /** Next UTC day, ISO: when today's caps reset. */
  nextDay: string;
  rows: WarmupRow[];
}

/** A counted message; `settle` gives the slot back when the attempt never reached the provider. */
export interface WarmupHold {
  settle(outcomes: RecipientOutcome[]): void;
}

export type WarmupReservation =
  | { ok: true; hold: WarmupHold | null }
  /** Past the cap: defer with `reply` for `waitMs` (until the next UTC day). */
  | { ok: false; reply: Reply; waitMs: number };

export interface SiteWarmup {
  provider: string;
  /** For the pool: false for an IP whose cap is used up and whose overflow is warm_ips. */
  accept(address: string): boolean;
  /** Counts one message from `address` (null = OS default: never capped). */
  reserve(address: string | null): WarmupReservation;
}

export interface Warmup {
  /** Null when no source has a warm-up schedule (nothing to check). */
  forSite(site: Site): SiteWarmup | null;
  /** Today's state of `address` for `provider`; null when no schedule applies. */
  state(address: string, provider: string): WarmupRow | null;
  report(instance: string): WarmupReport;
}

export function createWarmup(deps: {
  config: () => Config;
  counters: WarmupCounters;
  now: () => number;
}): Warmup {
  const { counters } = deps;

  function sourceAt(config: Config, address: string): SourceConfig | null {
    return Object.values(config.sources).find((s) => s.address === address && s.warmup) ?? null;
  }

  function rowOf(source: SourceConfig, provider: string, now: number): WarmupRow | null {
    const warmup = source.warmup;
    if (!warmup) return null;
    const schedule = warmup.schedules[provider] ?? warmup.schedules.default;
    if (!schedule) return null;
    const day = warmupDay(warmup.startDate, now);
    const cap = capOn(schedule, day);
    const used = counters.used(utcDay(now), source.address, provider);
    return {
      source: source.name,
      address: source.address,
      provider,
      day,
      cap,
      used,
      remaining: cap === null ? null : Math.max(0, cap - used),
      warm: cap === null,
      overflow: warmup.overflow,
    };
  }

  function state(address: string, provider: string): WarmupRow | null {
    const source = sourceAt(deps.config(), address);
    return source ? rowOf(source, provider, deps.now()) : null;
  }

  function capReply(row: WarmupRow, now: number): Reply {
    const next = new Date(nextUtcDay(now)).toISOString().slice(0, 16);
    const what =
      row.day < 1 ? "warm-up not started" : `warm-up cap reached for ${row.address} -> ${row.provider}`;
    return {
      code: 451,
      enhanced: "4.7.0",
      text: `${what} (day ${row.day}: ${row.used}/${row.cap ?? 0}); next day starts ${next}Z`,
    };
  }

  return {
    forSite(site) {
      const config = deps.config();
      if (!Object.values(config.sources).some((s) => s.warmup)) return null;
      const provider = providerOfHosts(
        site.hosts.map((h) => h.name),
        providersOf(config),
      );
      // A pool's warmup_overflow overrides its members' own overflow.
      const poolName = site.transport.pool;
      const poolOverflow = poolName === null ? undefined : config.pools[poolName]?.warmupOverflow;
      return {
        provider,
        accept(address) {
          const row = state(address, provider);
          if (row === null || row.cap === null || row.used < row.cap) return true;
          return (poolOverflow ?? row.overflow) === "wait";
        },
        reserve(address) {
          if (address === null) return { ok: true, hold: null };
          const source = sourceAt(deps.config(), address);
          const now = deps.now();
          const row = source ? rowOf(source, provider, now) : null;
          if (row === null || row.cap === null) return { ok: true, hold: null };
          const day = utcDay(now);
          if (!counters.tryReserve(day, address, provider, row.cap)) {
            return { ok: false, reply: capReply(row, now), waitMs: nextUtcDay(now) - now };
          }
          let settled = false;
          return {
            ok: true,
            hold: {
              settle(outcomes) {
                if (settled) return;
                settled = true;
                if (!outcomes.some((o) => o.relay !== null)) counters.release(day, address, provider);
              },
            },
          };
        },
      };
    },

    state,

    report(instance) {
      const config = deps.config();
      const now = deps.now();
      const providers = [...Object.keys(providersOf(config)), "default"];
      const rows: WarmupRow[] = [];
      for (const source of Object.values(config.sources)) {
        for (const provider of providers) {
          const row = rowOf(source, provider, now);
          if (row) rows.push(row);
        }
      }
      return {
        instance,
        now: new Date(now).toISOString(),
        nextDay: new Date(nextUtcDay(now)).toISOString(),
        rows,
      };
    },
  };
}

function providersOf(config: Config): Record<string, readonly string[]> {
  return config.providers ?? DEFAULT_PROVIDERS;
}

/** The counters file, beside the spool (one writer: the process holding the spool's lock). */
export const WARMUP_COUNTERS_FILE = "warmup-counters.jsonl";

/** An instance's warm-up: counters opened from its spool directory. */
export function openInstanceWarmup(
  spoolDir: string,
  config: () => Config,
  now: () => number,
): { warmup: Warmup; close(): void } {
  const counters = openWarmupCounters(join(spoolDir, WARMUP_COUNTERS_FILE));
  return { warmup: createWarmup({ config, counters, now }), close: () => counters.close() };
}
