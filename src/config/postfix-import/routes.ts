/**
 * transport_maps and sender_dependent_default_transport_maps entries -> mailfleet routes, in an
 * order that reproduces what Postfix does: trivial-rewrite consults transport_maps first and
 * uses the sender-dependent table only for mail transport_maps does not route, so recipient
 * domain routes come first. Within transport_maps, an exact domain beats ".parent" entries and a
 * closer parent beats a farther one; within the sender table, a full address beats "@domain".
 *
 * Where a sender entry is overridden by transport_maps for some recipient domains (Postfix does
 * this silently), one warning names the senders, the domains and the transports involved, and
 * how to make the sender route win instead.
 */
import type { MapEntry } from "./maps.ts";
import { splitTransportResult } from "./postfix-values.ts";
import type { TransportBuilder } from "./transports.ts";
import type { WarningSink } from "./warnings.ts";

export interface RouteOut {
  name: string;
  match: { recipient_domain?: string[]; sender?: string[]; sender_domain?: string[] };
  transport: string;
}

export interface RoutesInput {
  transportMap: MapEntry[];
  senderMap: MapEntry[];
  /** Postfix service of default_transport: a null transport field in transport_maps means it. */
  defaultService: string;
  /**
   * Nexthop for a sender-map result without one: Postfix takes default_transport's nexthop, then
   * relayhost, then the recipient domain ("" = MX lookup). transport_maps results without a
   * nexthop always go to the recipient domain's MX.
   */
  senderDefaultNexthop: string;
  transports: TransportBuilder;
  warnings: WarningSink;
}

export interface RoutesResult {
  routes: RouteOut[];
  /** Set when transport_maps has a "*" entry: it replaces delivery.default_transport. */
  catchAll: string | null;
}

const DOMAIN_RE =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const TRANSPORT_MAPS = "transport_maps";
const SENDER_MAPS = "sender_dependent_default_transport_maps";

export function convertRoutes(input: RoutesInput): RoutesResult {
  const { transports, warnings } = input;
  const target = (entry: MapEntry, table: string): string | null => {
    const { transport, nexthop } = splitTransportResult(entry.value);
    if (transport === "" && nexthop === "") {
      warnings.warn(
        "NOT_CARRIED",
        `${table} ${entry.at}: "${entry.key}" maps to ":" (no change); not carried over`,
      );
      return null;
    }
    const hop = nexthop === "" && table === SENDER_MAPS ? input.senderDefaultNexthop : nexthop;
    return transports.resolve(transport || input.defaultService, hop, `${table} ${entry.at}`);
  };

  // transport_maps
  const exact: { pattern: string; transport: string }[] = [];
  const parents: { pattern: string; transport: string }[] = [];
  let catchAll: string | null = null;
  for (const entry of input.transportMap) {
    const key = entry.key;
    const isParent = key.startsWith(".");
    const domain = isParent ? key.slice(1) : key;
    if (key !== "*" && !DOMAIN_RE.test(domain)) {
      const why = key.includes("@")
        ? "mailfleet routes match recipient domains, not recipient addresses"
        : "it is not a domain";
      warnings.warn(
        "NOT_CARRIED",
        `${TRANSPORT_MAPS} ${entry.at}: key "${key}" is not carried over (${why})`,
      );
      continue;
    }
    const transport = target(entry, TRANSPORT_MAPS);
    if (transport === null) continue;
    if (key === "*") catchAll = transport;
    else (isParent ? parents : exact).push({ pattern: key, transport });
  }
  // A closer parent (more labels) must be tried before a farther one.
  parents.sort((a, b) => labels(b.pattern) - labels(a.pattern));
  const recipientRules = [...groupByTransport(exact), ...groupParents(parents)].map(
    (g): RouteOut => ({
      name: `${TRANSPORT_MAPS}: ${g.transport}`,
      match: { recipient_domain: g.patterns },
      transport: g.transport,
    }),
  );

  // sender_dependent_default_transport_maps
  const addresses: { pattern: string; transport: string }[] = [];
  const domains: { pattern: string; transport: string }[] = [];
  for (const entry of input.senderMap) {
    const key = entry.key;
    const kind = key === "<>" ? "address" : senderKeyKind(key);
    if (kind === null) {
      const why = key.includes("@")
        ? "a local part for any domain has no mailfleet equivalent"
        : "Postfix never looks up a bare domain in this table; write @domain";
      warnings.warn("NOT_CARRIED", `${SENDER_MAPS} ${entry.at}: key "${key}" is not carried over (${why})`);
      continue;
    }
    const transport = target(entry, SENDER_MAPS);
    if (transport === null) continue;
    if (kind === "address") addresses.push({ pattern: key, transport });
    else domains.push({ pattern: key.slice(1), transport });
  }
  const senderRules = [
    ...groupByTransport(addresses).map(
      (g): RouteOut => ({
        name: `${SENDER_MAPS}: ${g.transport}`,
        match: { sender: g.patterns },
        transport: g.transport,
      }),
    ),
    ...groupByTransport(domains).map(
      (g): RouteOut => ({
        name: `${SENDER_MAPS}: ${g.transport}`,
        match: { sender_domain: g.patterns },
        transport: g.transport,
      }),
    ),
  ];
  disambiguateNames([...recipientRules, ...senderRules]);

  if (catchAll !== null && senderRules.length > 0) {
    warnings.warn(
      "ROUTE_SHADOWED",
      `${TRANSPORT_MAPS} has a "*" entry (${transports.describe(catchAll)}), so Postfix never used ${SENDER_MAPS}; its ${senderRules.length} route(s) are left out to keep that behaviour. To route by sender, add them back above the ${TRANSPORT_MAPS} routes and change delivery.default_transport`,
    );
    return { routes: recipientRules, catchAll };
  }
  for (const rule of senderRules) warnShadowed(rule, recipientRules, transports, warnings);
  return { routes: [...recipientRules, ...senderRules], catchAll };
}

function warnShadowed(
  senderRule: RouteOut,
  recipientRules: RouteOut[],
  transports: TransportBuilder,
  warnings: WarningSink,
): void {
  const overriding = recipientRules.filter((r) => r.transport !== senderRule.transport);
  if (overriding.length === 0) return;
  const senders = senderRule.match.sender ?? (senderRule.match.sender_domain ?? []).map((d) => `@${d}`);
  const domains = overriding
    .map((r) => `${(r.match.recipient_domain ?? []).join(", ")} -> ${transports.describe(r.transport)}`)
    .join("; ");
  warnings.warn(
    "ROUTE_SHADOWED",
    `${SENDER_MAPS} sends mail from ${senders.join(", ")} via ${transports.describe(senderRule.transport)}, but ${TRANSPORT_MAPS} wins for these recipient domains: ${domains}. Postfix delivered that mail via the ${TRANSPORT_MAPS} transport and so does this config (routes from ${TRANSPORT_MAPS} come first). If you meant the sender to decide, move the route "${senderRule.name}" above the ${TRANSPORT_MAPS} routes`,
  );
}

/** "user@domain" (full address), "@domain" (domain), or null for keys mailfleet cannot match. */
function senderKeyKind(key: string): "address" | "domain" | null {
  const at = key.lastIndexOf("@");
  if (at === -1) return null;
  const domain = key.slice(at + 1);
  if (!DOMAIN_RE.test(domain)) return null;
  if (at === 0) return "domain";
  return /^[^\s@<>]+$/.test(key.slice(0, at)) ? "address" : null;
}

function labels(pattern: string): number {
  return pattern.split(".").length;
}

interface Group {
  transport: string;
  patterns: string[];
}

/** Same-transport entries merged, in order of first appearance (entries do not overlap). */
function groupByTransport(entries: { pattern: string; transport: string }[]): Group[] {
  const groups: Group[] = [];
  for (const e of entries) {
    const group = groups.find((g) => g.transport === e.transport);
    if (group) group.patterns.push(e.pattern);
    else groups.push({ transport: e.transport, patterns: [e.pattern] });
  }
  return groups;
}

/**
 * Parent-domain entries (sorted closest first) merged per transport only where that keeps every
 * closer entry ahead of a farther one it overlaps with a different transport.
 */
function groupParents(entries: { pattern: string; transport: string }[]): Group[] {
  const grouped = groupByTransport(entries);
  const position = new Map<string, number>();
  for (const [i, g] of grouped.entries()) for (const p of g.patterns) position.set(p, i);
  const safe = entries.every((closer) =>
    entries.every(
      (farther) =>
        closer.transport === farther.transport ||
        !closer.pattern.endsWith(farther.pattern) ||
        closer.pattern === farther.pattern ||
        (position.get(closer.pattern) ?? 0) < (position.get(farther.pattern) ?? 0),
    ),
  );
  return safe ? grouped : entries.map((e) => ({ transport: e.transport, patterns: [e.pattern] }));
}

/** Route names must tell rules apart in `route explain`: number repeats. */
function disambiguateNames(routes: RouteOut[]): void {
  const counts = new Map<string, number>();
  for (const r of routes) counts.set(r.name, (counts.get(r.name) ?? 0) + 1);
  const seen = new Map<string, number>();
  for (const r of routes) {
    if ((counts.get(r.name) ?? 0) < 2) continue;
    const n = (seen.get(r.name) ?? 0) + 1;
    seen.set(r.name, n);
    r.name = `${r.name} #${n}`;
  }
}
