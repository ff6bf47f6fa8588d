/**
 * Routing: a pure function from an envelope recipient (and sender) plus the config to the
 * transport that carries it and the domain it is delivered for. No I/O, no state: the scheduler
 * calls it each time a message becomes due, so a config reload re-routes mail already queued.
 * (Rule lists matching sender/recipient/MX come with the routing issue; today every recipient
 * takes the default transport.)
 */
import type { Config, TransportConfig } from "../config/types.ts";

export interface RouteDecision {
  transport: TransportConfig;
  /** Recipient domain, lower-cased (IDNs as given; the resolver handles them). */
  domain: string;
}

export type RouteResult = { ok: true; route: RouteDecision } | { ok: false; reason: string };

export function recipientDomain(address: string): string | null {
  const at = address.lastIndexOf("@");
  if (at < 1 || at === address.length - 1) return null;
  return address.slice(at + 1).toLowerCase();
}

export function routeRecipient(config: Config, envelope: { sender: string; recipient: string }): RouteResult {
  const domain = recipientDomain(envelope.recipient);
  if (domain === null) return { ok: false, reason: `recipient <${envelope.recipient}> has no domain` };
  const transport = config.transports[config.delivery.defaultTransport];
  if (!transport)
    return { ok: false, reason: `transport "${config.delivery.defaultTransport}" is not defined` };
  return { ok: true, route: { transport, domain } };
}
