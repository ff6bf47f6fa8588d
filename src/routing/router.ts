/**
 * Routing: a pure function from an envelope (sender, recipient, and the recipient domain's MX host
 * names when known) plus the config to the transport that carries it. No I/O, no state: the
 * scheduler calls it each time a message becomes due, so a config reload re-routes queued mail.
 *
 * `config.routes` is an ordered rule list; the first rule whose conditions all match wins, and
 * `delivery.defaultTransport` takes whatever no rule matches. Within a condition's list any entry
 * matches. Matching, all case-insensitive (the schema lower-cases the patterns):
 *   recipient_domain / sender_domain  "example.com" exactly; ".example.com" any subdomain at any
 *                                     depth (a.example.com, x.y.example.com) but not example.com
 *   mx      "*.google.com" any MX host ending in ".google.com"; otherwise the exact host name.
 *           Matches when any of the recipient domain's MX hosts matches; never when MX is unknown.
 *   sender  the full address. The null sender (bounces) has no domain, so sender_domain never
 *           matches it; a sender entry of "<>" (or "") matches only the null sender.
 *   tenant  the message's tenant name (src/feedback/tenant.ts); never matches mail without one.
 * Unlike Postfix's transport_maps vs sender_dependent maps, conditions combine in one rule:
 * "marketing senders to Google-hosted domains" is one rule with sender_domain and mx.
 */
import type { Config, RouteRule, TransportConfig } from "../config/types.ts";

export interface RouteDecision {
  transport: TransportConfig;
  /** Recipient domain, lower-cased (IDNs as given; the resolver handles them). */
  domain: string;
  /** The rule that matched, or null when the default transport applies. */
  rule: RouteRule | null;
}

export type RouteResult = { ok: true; route: RouteDecision } | { ok: false; reason: string };

export interface RouteEnvelope {
  /** Envelope sender; "" (or "<>") is the null sender. */
  sender: string;
  recipient: string;
  /**
   * MX host names of the recipient domain (any case, trailing dot allowed), or null when unknown or
   * not looked up; an mx condition never matches then. Absent means null.
   */
  mxHosts?: string[] | null;
  /** The message's tenant; absent or null: none (a tenant condition never matches then). */
  tenant?: string | null;
}

export function recipientDomain(address: string): string | null {
  const at = address.lastIndexOf("@");
  if (at < 1 || at === address.length - 1) return null;
  return stripTrailingDot(address.slice(at + 1).toLowerCase());
}

function stripTrailingDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** "example.com" exactly, or ".example.com" for any subdomain of it (not the domain itself). */
export function domainMatches(pattern: string, domain: string): boolean {
  return pattern.startsWith(".") ? domain.endsWith(pattern) : domain === pattern;
}

/** "*.google.com" for any host below google.com, otherwise the exact host name. */
export function mxMatches(pattern: string, host: string): boolean {
  return pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) : host === pattern;
}

/** The envelope as the rules see it: lower-case, the null sender as "". */
interface Facts {
  domain: string;
  sender: string;
  senderDomain: string | null;
  mxHosts: string[] | null;
  tenant: string | null;
}

function anyOf(patterns: string[] | null, test: (pattern: string) => boolean): boolean {
  return patterns === null || patterns.some(test);
}

/** True when every condition the rule gives matches the envelope. */
export function ruleMatches(rule: RouteRule, facts: Facts): boolean {
  const { match } = rule;
  const { mxHosts, senderDomain } = facts;
  return (
    anyOf(match.recipientDomain, (p) => domainMatches(p, facts.domain)) &&
    anyOf(match.sender, (p) => p === facts.sender) &&
    anyOf(match.senderDomain, (p) => senderDomain !== null && domainMatches(p, senderDomain)) &&
    anyOf(match.mx, (p) => mxHosts?.some((host) => mxMatches(p, host)) === true) &&
    anyOf(match.tenant ?? null, (p) => p === facts.tenant)
  );
}

function factsOf(envelope: RouteEnvelope, domain: string): Facts {
  const trimmed = envelope.sender.trim().toLowerCase();
  const sender = trimmed === "<>" ? "" : trimmed;
  return {
    domain,
    sender,
    senderDomain: sender === "" ? null : recipientDomain(sender),
    mxHosts: envelope.mxHosts?.map((h) => stripTrailingDot(h.toLowerCase())) ?? null,
    tenant: envelope.tenant?.toLowerCase() ?? null,
  };
}

export function routeRecipient(config: Config, envelope: RouteEnvelope): RouteResult {
  const domain = recipientDomain(envelope.recipient);
  if (domain === null) return { ok: false, reason: `recipient <${envelope.recipient}> has no domain` };
  const facts = factsOf(envelope, domain);
  const rule = config.routes.find((r) => ruleMatches(r, facts)) ?? null;
  const name = rule?.transport ?? config.delivery.defaultTransport;
  const transport = config.transports[name];
  if (!transport) return { ok: false, reason: `transport "${name}" is not defined` };
  return { ok: true, route: { transport, domain, rule } };
}

/** True when some rule has an mx condition: the scheduler must then look up MX names first. */
export function routesNeedMx(config: Config): boolean {
  return config.routes.some((rule) => rule.match.mx !== null);
}
