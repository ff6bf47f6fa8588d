/**
 * The `reputation:` section of a delivering instance. Automatic isolation (src/reputation/
 * isolation.ts): per tenant thresholds over one of the reputation counters' windows, with a
 * minimum volume, and what happens to a tenant that crosses one (its mail moves to a quarantine
 * pool, or is paused until `mailfleet tenant release`).
 *
 *   reputation:
 *     isolation:
 *       window: 24h              # 1h | 24h | 7d (the counters' windows)
 *       min_messages: 1000       # no verdict below this volume (delivered + bounced)
 *       complaint_rate: 0.3%     # complaints / delivered
 *       hard_bounce_rate: 5%     # invalid_recipient bounces / (delivered + bounced)
 *       blocklist_replies: 10    # bounces classed "reputation" (0 = not checked)
 *       action: quarantine       # or pause
 *       quarantine_pool: quarantine
 *
 * The quarantine pool is for isolated tenants only: the checks below refuse a config in which its
 * sources are also in another pool or a transport's bind_address, or a transport uses it.
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { addExpected, type IssueSink, value } from "./schema-value.ts";

export const ISOLATION_WINDOWS = ["1h", "24h", "7d"] as const;
export type IsolationWindow = (typeof ISOLATION_WINDOWS)[number];

export interface IsolationConfig {
  window: IsolationWindow;
  minMessages: number;
  /** Fractions (0.003 = 0.3%); null = not checked. */
  complaintRate: number | null;
  hardBounceRate: number | null;
  /** Count; null = not checked. */
  blocklistReplies: number | null;
  action: "quarantine" | "pause";
  /** Pool name; null only with action pause. */
  quarantinePool: string | null;
}

export interface ReputationConfig {
  isolation: IsolationConfig | null;
  /** Adaptive backoff rules file (src/reputation/backoff-rules.ts); absent/null = the shipped one. */
  backoffRules?: string | null;
}

const RATE_EXPECTED = 'a rate such as "0.3%" (or a fraction 0-1), or null';

/** "0.3%" -> 0.003; 0.003 -> 0.003; null -> null. */
export function parseRate(v: unknown): number | null | undefined {
  if (v === null) return null;
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 && v <= 1 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
  if (!m) return undefined;
  const pct = Number(m[1]);
  return pct <= 100 ? pct / 100 : undefined;
}

const count = (min: number) =>
  value(`an integer >= ${min}`, (v) =>
    Number.isSafeInteger(v) && (v as number) >= min ? (v as number) : undefined,
  );

const isolationSchema = z
  .strictObject({
    window: z.enum(ISOLATION_WINDOWS).default("24h"),
    min_messages: count(1).prefault(1000),
    complaint_rate: value(RATE_EXPECTED, parseRate).prefault("0.3%"),
    hard_bounce_rate: value(RATE_EXPECTED, parseRate).prefault("5%"),
    blocklist_replies: value("an integer >= 0, or null", (v) =>
      v === null || (Number.isSafeInteger(v) && (v as number) >= 0) ? (v as number | null) : undefined,
    ).prefault(10),
    action: z.enum(["quarantine", "pause"]).default("quarantine"),
    quarantine_pool: z.string().optional(),
  })
  .superRefine((s, check) => {
    if (s.action === "quarantine" && s.quarantine_pool === undefined) {
      const expected = "a pool name: action quarantine needs quarantine_pool";
      addExpected(check, ["quarantine_pool"], undefined, expected);
    }
  });

export const reputationSchema = z.strictObject({
  isolation: isolationSchema.optional(),
  /** Adaptive backoff rules file (src/reputation/backoff-rules.ts), relative to the config file. */
  backoff_rules: z.string().min(1).optional(),
});

export type ReputationSection = z.output<typeof reputationSchema>;

export function finishReputation(section: ReputationSection | undefined, baseDir = "."): ReputationConfig {
  const i = section?.isolation;
  const rules = section?.backoff_rules;
  return {
    backoffRules: rules === undefined ? null : isAbsolute(rules) ? rules : resolve(baseDir, rules),
    isolation: i
      ? {
          window: i.window,
          minMessages: i.min_messages,
          complaintRate: i.complaint_rate,
          hardBounceRate: i.hard_bounce_rate,
          blocklistReplies: i.blocklist_replies === 0 ? null : i.blocklist_replies,
          action: i.action,
          quarantinePool: i.quarantine_pool ?? null,
        }
      : null,
  };
}

/**
 * quarantine_pool must name a pool, and that pool's sources must be its own: not in another
 * pool, not a transport's bind_address, and no transport may use the pool itself. `path` is where
 * the instance section sits.
 */
export function checkReputationReferences(
  section: ReputationSection | undefined,
  refs: {
    sources: Record<string, { address: string }>;
    pools: Record<string, { members: { source: string }[] }>;
    transports: Record<string, { pool: string | null; bindAddress: string | null }>;
  },
  check: IssueSink,
): void {
  const name = section?.isolation?.quarantine_pool;
  if (name === undefined) return;
  const path = ["reputation", "isolation", "quarantine_pool"];
  const fail = (expected: string) => addExpected(check, path, name, expected);
  const pool = refs.pools[name];
  if (!Object.hasOwn(refs.pools, name) || !pool) {
    const known = Object.keys(refs.pools);
    fail(
      `the name of a configured pool${known.length > 0 ? ` (one of ${known.join(", ")})` : " (none is configured)"}`,
    );
    return;
  }
  const own = new Set(pool.members.map((m) => m.source));
  const addresses = new Set([...own].flatMap((s) => refs.sources[s]?.address ?? []));
  for (const [other, p] of Object.entries(refs.pools)) {
    if (other === name) continue;
    const shared = p.members.find((m) => own.has(m.source));
    if (shared) fail(`a pool of its own: source "${shared.source}" is also in pool "${other}"`);
  }
  for (const [t, transport] of Object.entries(refs.transports)) {
    if (transport.pool === name) fail(`a pool no transport uses (transport "${t}" uses "${name}")`);
    if (transport.bindAddress !== null && addresses.has(transport.bindAddress.toLowerCase()))
      fail(`a pool of its own: transport "${t}" binds ${transport.bindAddress}, one of its sources`);
  }
}
