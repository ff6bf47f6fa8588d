/**
 * The routing step of one attempt: every pending recipient of a message goes through the pure
 * router (with its domain's MX host names when a route matches on MX), and the routed ones are
 * grouped by transport x domain, one destination resolution per group. A recipient that cannot
 * be routed bounces; one whose route may depend on an MX lookup that failed for now is deferred
 * rather than sent out a transport (and source IPs) that only looks right without the MX data.
 */
import type { Logger } from "pino";
import type { Config, RouteRule, TransportConfig } from "../config/types.ts";
import type { DestinationResolver } from "../delivery/types.ts";
import type { RecipientOutcome } from "../message/types.ts";
import type { IsolationRouting } from "../reputation/isolation.ts";
import { recipientDomain, routeRecipient, routesNeedMx } from "../routing/router.ts";
import type { QueuedMessage } from "../spool/types.ts";

/** Per recipient: the route it took this round, or null when routing failed. */
export interface RoundRecipient {
  index: number;
  transport: TransportConfig | null;
}

export interface RecipientGroup {
  transport: TransportConfig;
  domain: string;
  indexes: number[];
}

export interface RoutedRound {
  round: RoundRecipient[];
  /** Outcomes already known: unroutable recipients, and MX-dependent ones whose lookup failed. */
  outcomes: RecipientOutcome[];
  /** Keyed by transport name x domain. */
  groups: Map<string, RecipientGroup>;
}

export async function routeRound(deps: {
  config: Config;
  resolver: DestinationResolver;
  logger: Logger;
  message: QueuedMessage;
  pending: number[];
  /** Automatic isolation of the message's tenant (src/reputation/isolation.ts); absent: none. */
  isolation?: (tenant: string | null) => IsolationRouting | null;
}): Promise<RoutedRound> {
  const { config, message } = deps;
  const mxByDomain = await mxHostsForRouting(deps);
  const round: RoundRecipient[] = [];
  const outcomes: RecipientOutcome[] = [];
  const groups = new Map<string, RecipientGroup>();
  const isolated = deps.isolation?.(message.tenant ?? null) ?? null;
  for (const index of deps.pending) {
    const recipient = message.recipients[index]!.address;
    const mxHosts = mxByDomain.get(recipientDomain(recipient) ?? "") ?? null;
    const routed = routeRecipient(config, {
      sender: message.sender,
      recipient,
      mxHosts,
      tenant: message.tenant ?? null,
    });
    if (!routed.ok) {
      round.push({ index, transport: null });
      outcomes.push({
        kind: "bounced",
        recipientIndex: index,
        reply: { code: 550, enhanced: "5.1.3", text: routed.reason },
        scope: "recipient",
        relay: null,
      });
      continue;
    }
    const { rule, domain } = routed.route;
    const transport =
      isolated?.action === "quarantine"
        ? quarantined(routed.route.transport, isolated.pool)
        : routed.route.transport;
    round.push({ index, transport });
    if (isolated?.action === "pause") {
      outcomes.push({
        kind: "deferred",
        recipientIndex: index,
        reply: { code: 451, enhanced: "4.7.1", text: isolated.reason },
        scope: "message",
        relay: null,
      });
      continue;
    }
    if (mxByDomain.size > 0 && mxHosts === null && mayDependOnMx(config, rule)) {
      outcomes.push({
        kind: "deferred",
        recipientIndex: index,
        reply: {
          code: 451,
          enhanced: "4.4.3",
          text: `MX lookup for ${domain} failed; it is needed to route this recipient`,
        },
        scope: "destination",
        relay: null,
      });
      continue;
    }
    deps.logger.debug(
      {
        id: message.id,
        recipient,
        transport: transport.name,
        rule: rule ? (rule.name ?? `#${rule.index}`) : "default",
      },
      "recipient routed",
    );
    const key = `${transport.name}|${domain}`;
    const group = groups.get(key) ?? { transport, domain, indexes: [] };
    group.indexes.push(index);
    groups.set(key, group);
  }
  return { round, outcomes, groups };
}

/**
 * MX host names of the pending recipients' domains, when a route matches on MX (otherwise an
 * empty map and no lookups). A failed lookup maps to null.
 */
async function mxHostsForRouting(deps: {
  config: Config;
  resolver: DestinationResolver;
  message: QueuedMessage;
  pending: number[];
}): Promise<Map<string, string[] | null>> {
  const byDomain = new Map<string, string[] | null>();
  const { resolver } = deps;
  if (!resolver.mxHostNames || !routesNeedMx(deps.config)) return byDomain;
  const domains = new Set(
    deps.pending.flatMap((i) => recipientDomain(deps.message.recipients[i]!.address) ?? []),
  );
  await Promise.all(
    [...domains].map(async (domain) => {
      byDomain.set(domain, (await resolver.mxHostNames?.(domain)) ?? null);
    }),
  );
  return byDomain;
}

/** True when a rule with an MX condition comes before the rule that decided (or none decided). */
function mayDependOnMx(config: Config, decided: RouteRule | null): boolean {
  const firstMx = config.routes.findIndex((r) => r.match.mx !== null);
  if (firstMx < 0) return false;
  return decided === null || config.routes.indexOf(decided) > firstMx;
}

/**
 * The transport an isolated tenant's mail takes: its route's, leaving only from the quarantine
 * pool (no bind address to fall back on). Its own name keeps its site queues apart.
 */
export function quarantined(transport: TransportConfig, pool: string): TransportConfig {
  return { ...transport, name: `${transport.name}~isolated-${pool}`, pool, bindAddress: null };
}
