/**
 * `mailfleet route explain`, the pure part: given the config and the facts the CLI gathered (MX
 * names, the resolved destination site, source health), says which rule routed the envelope,
 * which transport, pool and source IPs it leaves from, under which limits, and to which MX site.
 * The answer is data (`Explanation`, printed as JSON with --json) and a text rendering of it.
 * No I/O here: the CLI does the DNS and admin API calls (src/cli/route.ts).
 */
import type { SourceHealthView } from "../api-types/sources.ts";
import type { Config, RouteRule, TransportConfig } from "../config/types.ts";
import { nexthopName } from "../config/values.ts";
import type { Resolution } from "../delivery/types.ts";
import { type BackoffEntryView, describeBackoff } from "../reputation/backoff.ts";
import type { WarmupRow } from "../reputation/warmup.ts";
import { type CandidateWarmup, candidateWarmup } from "../reputation/warmup-explain.ts";
import { recipientDomain, routeRecipient } from "./router.ts";

/** What the CLI found out before explaining. */
export interface ExplainFacts {
  sender: string;
  recipient: string;
  /** The tenant to route for (`--tenant`); absent or null: mail without a tenant. */
  tenant?: string | null;
  /** The recipient domain's MX host names, or why they are unknown. */
  mx: { ok: true; hosts: string[] } | { ok: false; reason: string };
  /** Where the chosen transport would deliver; null when it was not resolved (routing failed). */
  site: Resolution | null;
  /** Source health from the running instance, or why it is unknown. */
  health: { known: true; sources: SourceHealthView[] } | { known: false; reason: string };
  /** Source IP x site pairs under adaptive backoff in the running instance (GET /v1/backoff). */
  backoff?: BackoffEntryView[];
  /** IP warm-up rows of the running instance (GET /v1/warmup); absent: from the config alone. */
  warmup?: WarmupRow[];
}

export interface CandidateSource {
  /** Source name; null for a transport's bind_address or the OS default. */
  name: string | null;
  /** null: the OS picks the source address. */
  address: string | null;
  helo: string;
  weight: number;
  /** null when health is unknown. */
  health: { healthy: boolean; reason: string | null; until: string | null } | null;
  /** Adaptive backoff of this source toward the resolved site; absent when none (or unknown). */
  backoff?: { state: "suspended" | "reduced"; until: string | null; delayMs: number; text: string };
  /** IP warm-up toward the resolved site's provider; absent when no schedule applies. */
  warmup?: CandidateWarmup;
}

export interface Explanation {
  sender: string;
  recipient: string;
  tenant: string | null;
  domain: string | null;
  mx: ExplainFacts["mx"];
  /** Null when routing failed (see `error`). */
  rule: { index: number; name: string | null; conditions: string } | null;
  error: string | null;
  transport: {
    name: string;
    nexthop: string;
    tls: string;
    pool: { name: string; strategy: string } | null;
    sources: CandidateSource[];
    limits: { concurrency: number; rateDelayMs: number; maxPerHour: number };
    maxQueueLifetimeMs: number;
    retryScheduleMs: number[];
  } | null;
  health: { known: true } | { known: false; reason: string };
  site:
    | {
        ok: true;
        key: string;
        port: number;
        hosts: { name: string; preference: number; addresses: string[] }[];
      }
    | { ok: false; reply: string }
    | null;
}

/** "sender_domain [a, .b] and mx [*.google.com]": a rule's conditions in the file's own words. */
export function describeConditions(rule: RouteRule): string {
  const parts: string[] = [];
  const add = (key: string, list: string[] | null) => {
    if (list !== null) parts.push(`${key} [${list.map((v) => (v === "" ? "<>" : v)).join(", ")}]`);
  };
  add("recipient_domain", rule.match.recipientDomain);
  add("mx", rule.match.mx);
  add("sender", rule.match.sender);
  add("sender_domain", rule.match.senderDomain);
  add("tenant", rule.match.tenant ?? null);
  return parts.join(" and ");
}

function nexthopText(transport: TransportConfig): string {
  const n = transport.nexthop;
  const name = nexthopName(n);
  switch (n.kind) {
    case "mx":
      return `mx (MX lookup on the recipient domain, port ${n.port})`;
    case "host":
      return n.lookupMx ? `${name} (MX lookup on ${n.host})` : `${name} (no MX lookup)`;
    case "lmtp":
      return `${name} (LMTP, no MX lookup)`;
  }
}

function candidates(config: Config, transport: TransportConfig, facts: ExplainFacts): CandidateSource[] {
  const healthOf = (name: string | null, address: string | null): CandidateSource["health"] => {
    if (!facts.health.known) return null;
    const view = facts.health.sources.find((s) => (name !== null ? s.name === name : s.address === address));
    return view ? { healthy: view.healthy, reason: view.reason, until: view.until } : null;
  };
  const pool = transport.pool === null ? undefined : config.pools[transport.pool];
  if (pool) {
    return pool.members.map((member) => {
      const source = config.sources[member.source];
      const address = source?.address ?? null;
      return {
        name: member.source,
        address,
        helo: source?.helo ?? transport.helo,
        weight: member.weight,
        health: healthOf(member.source, address),
      };
    });
  }
  const address = transport.bindAddress;
  return [{ name: null, address, helo: transport.helo, weight: 1, health: healthOf(null, address) }];
}

export function explainRoute(config: Config, facts: ExplainFacts): Explanation {
  const mxHosts = facts.mx.ok ? facts.mx.hosts : null;
  const tenant = facts.tenant ?? null;
  const routed = routeRecipient(config, {
    sender: facts.sender,
    recipient: facts.recipient,
    mxHosts,
    tenant,
  });
  const health: Explanation["health"] = facts.health.known
    ? { known: true }
    : { known: false, reason: facts.health.reason };
  const base = {
    sender: facts.sender,
    recipient: facts.recipient,
    tenant,
    domain: recipientDomain(facts.recipient),
    mx: facts.mx,
    health,
  };
  if (!routed.ok) return { ...base, rule: null, error: routed.reason, transport: null, site: null };
  const { transport, rule } = routed.route;
  const site: Explanation["site"] =
    facts.site === null
      ? null
      : facts.site.kind === "site"
        ? { ok: true, key: facts.site.site.key, port: facts.site.site.port, hosts: facts.site.site.hosts }
        : { ok: false, reply: formatReply(facts.site.reply) };
  const sources = candidates(config, transport, facts);
  if (site?.ok === true) for (const s of sources) addBackoff(s, site.key, facts.backoff ?? []);
  if (site?.ok === true) {
    const names = site.hosts.map((h) => h.name);
    for (const s of sources) {
      const warmup = candidateWarmup(config, s.address, names, facts.warmup ?? null, Date.now());
      if (warmup) s.warmup = warmup;
    }
  }
  return {
    ...base,
    rule: rule === null ? null : { index: rule.index, name: rule.name, conditions: describeConditions(rule) },
    error: null,
    transport: {
      name: transport.name,
      nexthop: nexthopText(transport),
      tls: transport.tls,
      pool:
        transport.pool === null
          ? null
          : { name: transport.pool, strategy: config.pools[transport.pool]?.strategy ?? "?" },
      sources,
      limits: { ...transport.limits },
      maxQueueLifetimeMs: transport.maxQueueLifetimeMs,
      retryScheduleMs: [...transport.retryScheduleMs],
    },
    site,
  };
}

/** Marks a candidate source that is suspended or slowed toward `siteKey`. */
function addBackoff(source: CandidateSource, siteKey: string, entries: BackoffEntryView[]): void {
  const entry = entries.find((e) => e.site === siteKey && e.source === (source.address ?? "default"));
  if (!entry) return;
  const { state, until, delayMs } = entry;
  source.backoff = { state, until, delayMs, text: describeBackoff(entry) };
}

function formatReply(reply: { code: number; enhanced: string | null; text: string }): string {
  return [String(reply.code), reply.enhanced, reply.text].filter((p) => p !== null && p !== "").join(" ");
}

/** 400 -> "400ms", 90000 -> "1m30s", 86400000 -> "1d". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  if (ms < 1000) return `${ms}ms`;
  const units: [string, number][] = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ];
  let rest = ms;
  let out = "";
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return rest > 0 ? `${out}${rest}ms` : out;
}

function healthText(source: CandidateSource, health: Explanation["health"]): string {
  if (!health.known) return "health unknown";
  if (source.health === null) return source.name === null ? "health n/a" : "health not reported";
  if (source.health.healthy) return "healthy";
  const until = source.health.until === null ? "" : ` until ${source.health.until}`;
  return `UNHEALTHY (${source.health.reason ?? "no reason given"})${until}`;
}

/** The text form: one fact per line, indented under what it belongs to. */
export function formatExplanation(e: Explanation): string {
  const lines = [`route for <${e.sender}> -> <${e.recipient}>`];
  if (e.tenant !== null) lines.push(`  tenant:     ${e.tenant}`);
  if (e.domain !== null) lines.push(`  domain:     ${e.domain}`);
  lines.push(
    e.mx.ok
      ? `  mx hosts:   ${e.mx.hosts.length > 0 ? e.mx.hosts.join(", ") : "(none)"}`
      : `  mx hosts:   unknown: ${e.mx.reason} (a rule with an mx condition cannot match)`,
  );
  if (e.transport === null) {
    lines.push(`  error:      ${e.error ?? "not routable"}`);
    return lines.join("\n");
  }
  const t = e.transport;
  lines.push(
    e.rule === null
      ? "  rule:       none matched: default transport (delivery.default_transport)"
      : `  rule:       #${e.rule.index}${e.rule.name === null ? "" : ` "${e.rule.name}"`}: ${e.rule.conditions}`,
  );
  lines.push(`  transport:  ${t.name}`, `    nexthop:  ${t.nexthop}`, `    tls:      ${t.tls}`);
  lines.push(
    t.pool === null
      ? `    source:   ${t.sources[0]?.address === null ? "OS default address" : "bind_address"}`
      : `    pool:     ${t.pool.name} (${t.pool.strategy})`,
  );
  for (const s of t.sources) {
    const name = s.name === null ? "" : `${s.name} `;
    const weight = t.pool?.strategy === "weighted" ? `, weight ${s.weight}` : "";
    lines.push(
      `      ${name}${s.address ?? "(OS default)"} helo ${s.helo}${weight}: ${healthText(s, e.health)}${s.backoff ? `; backoff: ${s.backoff.text}` : ""}${s.warmup ? `; ${s.warmup.text}` : ""}`,
    );
  }
  if (!e.health.known) lines.push(`    health: unknown (${e.health.reason})`);
  const perHour = t.limits.maxPerHour === 0 ? "unlimited" : `${t.limits.maxPerHour}`;
  const delay = t.limits.rateDelayMs === 0 ? "none" : formatDuration(t.limits.rateDelayMs);
  lines.push(
    `    limits:   per source IP x site: concurrency ${t.limits.concurrency}, rate delay ${delay}, max/hour ${perHour}`,
    `    queue:    max lifetime ${formatDuration(t.maxQueueLifetimeMs)}; retry ${t.retryScheduleMs.map(formatDuration).join(", ")} (last repeats)`,
  );
  if (e.site === null) return lines.join("\n");
  if (!e.site.ok) {
    lines.push(`  site:       not resolved: ${e.site.reply}`);
    return lines.join("\n");
  }
  lines.push(`  site:       ${e.site.key} (port ${e.site.port})`);
  for (const h of e.site.hosts) {
    lines.push(
      `    ${String(h.preference).padStart(5)} ${h.name} ${h.addresses.join(", ") || "(no address)"}`,
    );
  }
  return lines.join("\n");
}
