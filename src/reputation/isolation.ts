/**
 * Automatic isolation of a tenant whose mail hurts the reputation of a shared pool (issue
 * "Reputation control"). The reputation counters tell each tenant's delivered, bounced (by class)
 * and complaints over a window; when a tenant with at least `min_messages` of volume crosses a
 * threshold (isolation-rules.ts) it is isolated, durably (isolation-store.ts), logged in the
 * delivery log and listed by `mailfleet reputation`. From then on `routing(tenant)` tells the
 * scheduler's routing step what to do with its mail:
 *   - quarantine: every delivery leaves from the quarantine pool only (its route's pool or bind
 *     address is replaced). The config checks keep that pool's sources out of every other pool and
 *     transport, so no other tenant's mail leaves from them;
 *   - pause: its mail is deferred with a reply that says why, until released.
 * An isolation lasts until `mailfleet tenant release T`, whatever the counters say later. A
 * released tenant starts afresh: for one window its counts are taken net of what they were at the
 * release (kept in memory; a restart within that window judges the whole window again).
 *
 * Tenants are checked shortly after their counters change (debounced), and all of them every
 * minute, both on the instance clock's now (windows follow the test clock in e2e tests).
 */
import type { Logger } from "pino";
import type { ReputationCounts } from "../api-types/feedback.ts";
import type { IsolationConfig } from "../config/schema-reputation.ts";
import type { Config } from "../config/types.ts";
import { isolationVerdict } from "./isolation-rules.ts";
import type { IsolationStore } from "./isolation-store.ts";
import type { IsolationEvent, IsolationRecord, IsolationView } from "./isolation-types.ts";

/** What the routing step does with an isolated tenant's mail this attempt. */
export type IsolationRouting = { action: "quarantine"; pool: string } | { action: "pause"; reason: string };

const WINDOW_MS: Record<string, number> = { "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000 };

/** a - b, never below 0 (b's events may have left the window since). */
export function subtractCounts(a: ReputationCounts, b: ReputationCounts): ReputationCounts {
  const d = (x: number, y: number) => Math.max(0, x - y);
  const byClass: ReputationCounts["bouncedByClass"] = {};
  for (const [k, v] of Object.entries(a.bouncedByClass) as [keyof typeof byClass, number][]) {
    byClass[k] = d(v, b.bouncedByClass[k] ?? 0);
  }
  return {
    delivered: d(a.delivered, b.delivered),
    deferred: d(a.deferred, b.deferred),
    bounced: d(a.bounced, b.bounced),
    bouncedByClass: byClass,
    complaints: d(a.complaints, b.complaints),
  };
}

export interface TenantIsolation {
  /** A counter event for `tenant` was recorded: check it soon. */
  noteEvent(tenant: string | null): void;
  /** Checks the given tenants (default: every tenant with counts) now; returns the new isolations. */
  checkNow(tenants?: string[]): Promise<IsolationRecord[]>;
  /** null: not isolated, route as usual. */
  routing(tenant: string | null): IsolationRouting | null;
  release(tenant: string): Promise<boolean>;
  view(): IsolationView;
  close(): void;
}

export interface TenantIsolationDeps {
  instance: string;
  config: () => Config;
  store: IsolationStore;
  /** The tenant's counts per window (the reputation counters); null when none. */
  counts: (tenant: string) => Record<string, ReputationCounts> | null;
  /** Tenants that have counts. */
  tenants: () => string[];
  now: () => number;
  /** Called with each isolate/release event (the delivery log). */
  onEvent: (event: IsolationEvent) => void;
  logger: Logger;
  checkDelayMs?: number;
  sweepEveryMs?: number;
}

export function createTenantIsolation(deps: TenantIsolationDeps): TenantIsolation {
  const settings = (): IsolationConfig | null => deps.config().reputation?.isolation ?? null;
  const dirty = new Set<string>();
  /** tenant -> counts of the window at its release, and when. */
  const releasedWith = new Map<string, { at: number; counts: ReputationCounts }>();
  let timer: NodeJS.Timeout | null = null;
  let checking: Promise<unknown> = Promise.resolve();

  async function check(tenants: string[]): Promise<IsolationRecord[]> {
    const config = settings();
    const isolated: IsolationRecord[] = [];
    if (config === null) return isolated;
    for (const tenant of tenants) {
      if (deps.store.get(tenant)) continue;
      const all = deps.counts(tenant)?.[config.window];
      if (!all) continue;
      const counts = sinceRelease(tenant, all, WINDOW_MS[config.window] ?? 86_400_000);
      const reason = isolationVerdict(counts, config);
      if (reason === null) continue;
      const pool = config.action === "quarantine" ? config.quarantinePool : null;
      const record: IsolationRecord = { tenant, action: config.action, pool, reason, at: deps.now() };
      await deps.store.isolate(record);
      deps.onEvent({ kind: "isolated", ...record });
      deps.logger.warn(
        { tenant, reason, action: record.action, pool },
        `tenant ${tenant} isolated (${reason}): ${pool !== null ? `its mail leaves only from pool ${pool}` : "its mail is paused"} until released`,
      );
      isolated.push(record);
    }
    return isolated;
  }

  function sinceRelease(tenant: string, counts: ReputationCounts, windowMs: number): ReputationCounts {
    const released = releasedWith.get(tenant);
    if (!released) return counts;
    if (deps.now() - released.at >= windowMs) {
      releasedWith.delete(tenant);
      return counts;
    }
    return subtractCounts(counts, released.counts);
  }

  /** Serialised, so a tenant is never isolated twice by overlapping checks. */
  const checkSerial = (tenants: string[]) => {
    const run = checking.then(() => check(tenants));
    checking = run.catch((err: unknown) => deps.logger.error({ err }, "isolation check failed"));
    return run;
  };

  const flushDirty = () => {
    timer = null;
    const tenants = [...dirty];
    dirty.clear();
    void checkSerial(tenants).catch(() => {});
  };

  const sweep = setInterval(() => {
    if (settings() !== null) void checkSerial(deps.tenants()).catch(() => {});
  }, deps.sweepEveryMs ?? 60_000);
  sweep.unref();

  return {
    noteEvent(tenant) {
      if (tenant === null || settings() === null || deps.store.get(tenant)) return;
      dirty.add(tenant);
      if (timer === null) {
        timer = setTimeout(flushDirty, deps.checkDelayMs ?? 200);
        timer.unref();
      }
    },
    checkNow: (tenants) => checkSerial(tenants ?? deps.tenants()),
    routing(tenant) {
      if (tenant === null) return null;
      const record = deps.store.get(tenant);
      if (!record) return null;
      const config = deps.config();
      // The pool of the isolation, or today's quarantine pool; when neither exists any more the
      // mail waits rather than leave from a shared pool.
      const pool = [record.pool, config.reputation?.isolation?.quarantinePool ?? null].find(
        (p) => p !== null && p !== undefined && Object.hasOwn(config.pools, p),
      );
      if (record.action === "quarantine" && pool) return { action: "quarantine", pool };
      return {
        action: "pause",
        reason: `tenant ${tenant} is paused by automatic isolation (${record.reason}); mailfleet tenant release ${tenant} resumes it`,
      };
    },
    async release(tenant) {
      const record = await deps.store.release(tenant, deps.now());
      if (!record) return false;
      const window = settings()?.window ?? "24h";
      const counts = deps.counts(tenant)?.[window];
      if (counts) releasedWith.set(tenant, { at: deps.now(), counts });
      deps.onEvent({ ...record, kind: "released", reason: "released by the operator", at: deps.now() });
      deps.logger.warn({ tenant }, `tenant ${tenant} released from isolation: back on its routes' pools`);
      return true;
    },
    view() {
      const c = settings();
      return {
        instance: deps.instance,
        thresholds: c && {
          window: c.window,
          minMessages: c.minMessages,
          complaintRate: c.complaintRate,
          hardBounceRate: c.hardBounceRate,
          blocklistReplies: c.blocklistReplies,
          action: c.action,
          quarantinePool: c.quarantinePool,
        },
        isolated: deps.store.all(),
        events: deps.store.events(),
      };
    },
    close() {
      clearInterval(sweep);
      if (timer !== null) clearTimeout(timer);
    },
  };
}
