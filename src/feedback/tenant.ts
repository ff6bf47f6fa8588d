/**
 * Tenants: who a message is sent for. Per instance (config `tenants.from`), in order of
 * precedence, the tenant is the authenticated user (`auth_user`), the value of a header
 * (`header`, X-Mailfleet-Tenant by default) or the envelope sender's domain (`sender_domain`);
 * the first source that gives a value wins, none gives null (mail without a tenant).
 *
 * The header never leaves the fleet. When a message is stored every copy of it is removed from
 * the body; an instance that relays to another fleet instance (`relay_to`) then puts back one
 * `X-Mailfleet-Tenant: T` with the tenant it decided, so the next instance (whose `from` lists
 * `header`, as the default does) knows the tenant too; a delivering instance keeps it off.
 * Pure functions, no I/O.
 */
import { takeHeader } from "../message/header-fields.ts";
import type { NewMessage } from "../message/types.ts";

export type TenantSource = "auth_user" | "header" | "sender_domain";

export const TENANT_SOURCES: readonly TenantSource[] = ["auth_user", "header", "sender_domain"];

export interface TenantsConfig {
  /** Sources in order of precedence. Empty: no message has a tenant. */
  from: TenantSource[];
  /** Header field name carrying the tenant (compared case-insensitively). */
  header: string;
}

export const DEFAULT_TENANT_HEADER = "X-Mailfleet-Tenant";

const TENANT_RE = /^[a-z0-9][a-z0-9._@+-]{0,127}$/;

/** A tenant name: lower-cased, 1-128 of letters, digits and . _ @ + -; anything else is null. */
export function tenantName(value: string | null | undefined): string | null {
  if (typeof value !== "string") return null;
  const name = value.trim().toLowerCase();
  return TENANT_RE.test(name) ? name : null;
}

export interface TenantFacts {
  /** Authenticated user name, or null. */
  user: string | null;
  /** Envelope sender; "" is the null sender. */
  sender: string;
  /** The first value of the tenant header, or null; undefined = not known yet (before DATA). */
  header?: string | null;
}

function senderDomain(sender: string): string | null {
  const at = sender.lastIndexOf("@");
  return at < 1 ? null : tenantName(sender.slice(at + 1).replace(/\.$/, ""));
}

/**
 * The tenant, or `undefined` when it depends on the header and the header is not known yet
 * (at RCPT time): then only the message, after DATA, can tell.
 */
export function identifyTenant(config: TenantsConfig, facts: TenantFacts): string | null | undefined {
  for (const source of config.from) {
    if (source === "auth_user") {
      const user = tenantName(facts.user);
      if (user !== null) return user;
    } else if (source === "sender_domain") {
      const domain = senderDomain(facts.sender);
      if (domain !== null) return domain;
    } else {
      if (facts.header === undefined) return undefined;
      const value = tenantName(facts.header);
      if (value !== null) return value;
    }
  }
  return null;
}

/**
 * Decides the message's tenant and rewrites the content: every copy of the tenant header goes;
 * when `relaying`, one header with the decided tenant is put back on top for the next instance.
 */
export function applyTenant(
  config: TenantsConfig,
  options: { relaying: boolean; user: string | null },
  message: NewMessage,
  content: Buffer,
): { message: NewMessage; content: Buffer } {
  const taken = takeHeader(content, config.header);
  const tenant =
    identifyTenant(config, { user: options.user, sender: message.sender, header: taken.values[0] ?? null }) ??
    null;
  const body =
    options.relaying && tenant !== null
      ? Buffer.concat([Buffer.from(`${config.header}: ${tenant}\r\n`, "latin1"), taken.content])
      : taken.content;
  return { message: { ...message, tenant }, content: body };
}
