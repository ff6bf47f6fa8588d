/**
 * Source selection: which local address (and HELO name) a delivery leaves from. A transport with
 * a pool picks one of the pool's sources per destination site, by the pool's strategy:
 *   - round_robin: each healthy member in turn;
 *   - weighted: smooth weighted round-robin (nginx's), so weight 3 vs 1 gives 3:1, interleaved;
 *   - sticky: rendezvous hashing of the site key over the healthy members, so a destination
 *     keeps "its" IP (reputation builds per IP x site) and only moves when that IP is unhealthy.
 * It also keeps each source's health. A source whose address cannot be bound (not assigned to
 * the host: the silent Postfix failure) is unhealthy for a minute and says so loudly; so is one
 * with several consecutive connect failures on different sites. Unhealthy sources are skipped
 * while a healthy member is left; when none is, they are used anyway (and that is logged),
 * because a pool that sends nothing helps no one.
 */
import type { Logger } from "pino";
import type { Config, PoolConfig, TransportConfig } from "../config/types.ts";

export interface SourcePick {
  address: string;
  helo: string;
  /** The source's name in the config, or the address for a transport's bare bind_address. */
  sourceName: string;
}

export interface SourceHealth {
  name: string;
  address: string;
  healthy: boolean;
  /** Why it is unhealthy; null when healthy. */
  reason: string | null;
  /** Unix ms the unhealthy period ends; null when healthy. */
  until: number | null;
}

export interface SourceSelector {
  /**
   * The source for one delivery to `siteKey`; null = no pool and no bind address: OS default.
   * `accept` (warm-up) narrows the pool to the members it accepts, unless it accepts none.
   */
  pick(transport: TransportConfig, siteKey: string, accept?: (address: string) => boolean): SourcePick | null;
  /** The address could not be bound (EADDRNOTAVAIL...): unhealthy at once. */
  reportBindFailure(address: string, reason: string): void;
  /** A session could not be opened from `address` to `siteKey`. */
  reportConnectFailure(address: string, siteKey: string): void;
  /** A session was opened from `address`: resets its failure count. */
  reportSuccess(address: string): void;
  health(): SourceHealth[];
}

export interface SourceSelectorDeps {
  /** A getter, so a reloaded config's pools apply to the next pick. */
  config: () => Config;
  logger: Logger;
  now?: () => number;
}

/** How long a failed source is avoided. */
export const UNHEALTHY_FOR_MS = 60_000;
/** Consecutive connect failures, on at least CONNECT_FAILURE_SITES sites, that make a source unhealthy. */
export const CONNECT_FAILURE_LIMIT = 5;
export const CONNECT_FAILURE_SITES = 2;

interface HealthState {
  failures: number;
  failedSites: Set<string>;
  unhealthyUntil: number;
  reason: string | null;
}

interface Member {
  name: string;
  address: string;
  helo: string;
  weight: number;
}

/** Per pool selection state; rebuilt when the pool's definition changes (reload). */
interface PoolState {
  signature: string;
  cursor: number;
  /** Smooth weighted round-robin: current weight per member index. */
  current: number[];
  /** Last time "every source unhealthy" was logged, to log it once per period, not per pick. */
  allDownLoggedAt: number;
}

export function createSourceSelector(deps: SourceSelectorDeps): SourceSelector {
  const { logger } = deps;
  const now = deps.now ?? Date.now;
  const health = new Map<string, HealthState>();
  const poolStates = new Map<string, PoolState>();

  function stateOf(address: string): HealthState {
    let state = health.get(address);
    if (!state) {
      state = { failures: 0, failedSites: new Set(), unhealthyUntil: 0, reason: null };
      health.set(address, state);
    }
    return state;
  }

  const isHealthy = (address: string) => (health.get(address)?.unhealthyUntil ?? 0) <= now();

  function membersOf(config: Config, pool: PoolConfig): Member[] {
    return pool.members.flatMap((m) => {
      const source = config.sources[m.source];
      return source
        ? [{ name: source.name, address: source.address, helo: source.helo, weight: m.weight }]
        : [];
    });
  }

  function poolState(pool: PoolConfig, members: Member[]): PoolState {
    const signature = `${pool.strategy}|${members.map((m) => `${m.address}*${m.weight}`).join(",")}`;
    let state = poolStates.get(pool.name);
    if (!state || state.signature !== signature) {
      state = { signature, cursor: 0, current: members.map(() => 0), allDownLoggedAt: 0 };
      poolStates.set(pool.name, state);
    }
    return state;
  }

  function poolsWith(address: string): string[] {
    const config = deps.config();
    return Object.values(config.pools)
      .filter((p) => p.members.some((m) => config.sources[m.source]?.address === address))
      .map((p) => p.name);
  }

  function markUnhealthy(address: string, reason: string, level: "error" | "warn"): void {
    const state = stateOf(address);
    const wasHealthy = state.unhealthyUntil <= now();
    state.unhealthyUntil = now() + UNHEALTHY_FOR_MS;
    state.reason = reason;
    state.failures = 0;
    state.failedSites.clear();
    if (!wasHealthy) return;
    const pools = poolsWith(address);
    const where =
      pools.length > 0
        ? `traffic moves to the other sources of pool ${pools.join(", ")}`
        : "it is not in a pool: its mail is deferred";
    logger[level](
      { source: address, pools, reason, unhealthyForMs: UNHEALTHY_FOR_MS },
      `source ${address} unusable: ${reason} — ${where}`,
    );
  }

  function pickFromPool(
    pool: PoolConfig,
    siteKey: string,
    accept?: (address: string) => boolean,
  ): SourcePick | null {
    const members = membersOf(deps.config(), pool);
    if (members.length === 0) return null;
    const state = poolState(pool, members);
    const all = members.map((_, i) => i);
    const accepted = accept ? all.filter((i) => accept(members[i]!.address)) : all;
    const usable = accepted.length > 0 ? accepted : all;
    let candidates = usable.filter((i) => isHealthy(members[i]!.address));
    if (candidates.length === 0) {
      candidates = usable;
      if (now() - state.allDownLoggedAt >= UNHEALTHY_FOR_MS) {
        state.allDownLoggedAt = now();
        logger.error(
          { pool: pool.name, sources: members.map((m) => m.address) },
          `every source of pool ${pool.name} is unhealthy: using them anyway`,
        );
      }
    }
    const index = choose(pool.strategy, members, candidates, state, siteKey);
    const member = members[index]!;
    return { address: member.address, helo: member.helo, sourceName: member.name };
  }

  return {
    pick(transport, siteKey, accept) {
      const config = deps.config();
      if (transport.pool !== null) {
        const pool = config.pools[transport.pool];
        if (pool) {
          const picked = pickFromPool(pool, siteKey, accept);
          if (picked) return picked;
        }
        // The schema guarantees the pool exists; a pool with no known member falls through.
        logger.error({ transport: transport.name, pool: transport.pool }, "pool has no usable source");
      }
      if (transport.bindAddress === null) return null;
      const named = Object.values(config.sources).find((s) => s.address === transport.bindAddress);
      return {
        address: transport.bindAddress,
        helo: transport.helo,
        sourceName: named?.name ?? transport.bindAddress,
      };
    },

    reportBindFailure(address, reason) {
      markUnhealthy(address, `cannot bind ${address}: ${reason}`, "error");
    },

    reportConnectFailure(address, siteKey) {
      const state = stateOf(address);
      if (state.unhealthyUntil > now()) return;
      state.failures++;
      state.failedSites.add(siteKey);
      if (state.failures >= CONNECT_FAILURE_LIMIT && state.failedSites.size >= CONNECT_FAILURE_SITES) {
        markUnhealthy(
          address,
          `${state.failures} consecutive connection failures on ${state.failedSites.size} destinations`,
          "warn",
        );
      }
    },

    reportSuccess(address) {
      const state = health.get(address);
      if (!state) return;
      state.failures = 0;
      state.failedSites.clear();
    },

    health() {
      const config = deps.config();
      const at = now();
      const known = new Map<string, string>();
      for (const s of Object.values(config.sources)) known.set(s.address, s.name);
      for (const t of Object.values(config.transports)) {
        if (t.bindAddress !== null && !known.has(t.bindAddress)) known.set(t.bindAddress, t.bindAddress);
      }
      for (const address of health.keys()) if (!known.has(address)) known.set(address, address);
      return [...known].map(([address, name]) => {
        const state = health.get(address);
        const healthy = (state?.unhealthyUntil ?? 0) <= at;
        return {
          name,
          address,
          healthy,
          reason: healthy ? null : (state?.reason ?? null),
          until: healthy ? null : (state?.unhealthyUntil ?? null),
        };
      });
    },
  };
}

/** Picks a member index among `candidates` (healthy indexes, or all when none is healthy). */
function choose(
  strategy: PoolConfig["strategy"],
  members: Member[],
  candidates: number[],
  state: PoolState,
  siteKey: string,
): number {
  if (strategy === "sticky") return rendezvous(members, candidates, siteKey);
  if (strategy === "weighted") return smoothWeighted(members, candidates, state);
  // round_robin: the next member from the cursor that is a candidate.
  const allowed = new Set(candidates);
  for (let step = 0; step < members.length; step++) {
    const i = (state.cursor + step) % members.length;
    if (allowed.has(i)) {
      state.cursor = (i + 1) % members.length;
      return i;
    }
  }
  return candidates[0]!;
}

/**
 * nginx's smooth weighted round-robin: every candidate gains its weight, the largest current
 * weight wins and pays back the total. Over any window of sum(weights) picks each member gets
 * exactly its weight, spread out rather than in bursts.
 */
function smoothWeighted(members: Member[], candidates: number[], state: PoolState): number {
  let total = 0;
  let best = candidates[0]!;
  for (const i of candidates) {
    const weight = Math.max(0, members[i]!.weight);
    state.current[i] = (state.current[i] ?? 0) + weight;
    total += weight;
    if ((state.current[i] ?? 0) > (state.current[best] ?? 0)) best = i;
  }
  state.current[best] = (state.current[best] ?? 0) - total;
  return best;
}

/**
 * Weighted rendezvous (highest random weight) hashing: each (site, member) pair gets a score;
 * the best scoring candidate wins. Removing a member only moves the sites that were on it.
 */
function rendezvous(members: Member[], candidates: number[], siteKey: string): number {
  let best = candidates[0]!;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const i of candidates) {
    const member = members[i]!;
    const unit = (hash32(`${siteKey}\u0000${member.address}`) + 0.5) / 2 ** 32; // in (0, 1)
    const score = -Math.max(member.weight, 1e-9) / Math.log(unit);
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}

/** FNV-1a with a murmur3 finaliser: fast, and well spread for short keys. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
