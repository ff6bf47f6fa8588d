/**
 * The YAML schema of an instance's `policy:` section (issue #5): rate limits, SPF/DKIM/DMARC/ARC
 * with mailauth, rspamd and DNSBL checks of the inbound listener. Kept apart from schema.ts so
 * each file stays one readable job.
 *
 * Some defaults depend on the instance's role (authentication checks are on for `input` only),
 * and the authserv-id defaults to the hostname; the schema leaves those undefined and
 * `finishPolicy` fills them in once the role and hostname are known.
 */

import { z } from "zod";
import { value } from "./schema-value.ts";

import type { InstanceRole, PolicyConfig, RateLimitValues, RspamdAction } from "./types.ts";
import { EXPECTED, isHostname, parseDuration } from "./values.ts";

export const RSPAMD_ACTIONS = [
  "reject",
  "soft_reject",
  "rewrite_subject",
  "add_header",
  "greylist",
  "no_action",
] as const satisfies readonly RspamdAction[];
export const SPAM_VERDICTS = ["reject", "soft_reject", "add_header", "accept"] as const;
export const DNSBL_CHECK_POINTS = ["connect", "rcpt"] as const;
export const RSPAMD_URL_EXPECTED = "an http:// URL such as http://127.0.0.1:11333";

const limit = () =>
  value("an integer >= 0 (0 = no limit)", (v) =>
    Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined,
  ).prefault(0);

const rateLimitValues = z
  .strictObject({
    concurrent_connections: limit(),
    connections_per_minute: limit(),
    messages_per_minute: limit(),
    recipients_per_minute: limit(),
  })
  .transform(
    (v): RateLimitValues => ({
      concurrentConnections: v.concurrent_connections,
      connectionsPerMinute: v.connections_per_minute,
      messagesPerMinute: v.messages_per_minute,
      recipientsPerMinute: v.recipients_per_minute,
    }),
  );

const rateLimitsSchema = z
  .strictObject({
    client_ip: rateLimitValues.prefault({}),
    user: rateLimitValues.prefault({}),
    sender_domain: rateLimitValues.prefault({}),
    max_keys: value("an integer >= 100", (v) =>
      Number.isSafeInteger(v) && (v as number) >= 100 ? (v as number) : undefined,
    ).prefault(100_000),
  })
  .transform((r) => ({
    clientIp: r.client_ip,
    user: r.user,
    senderDomain: r.sender_domain,
    maxKeys: r.max_keys,
  }));

const authenticationSchema = z
  .strictObject({
    /** Default: on for the input role, off otherwise. */
    enabled: z.boolean().optional(),
    arc: z.boolean().default(true),
    enforce_dmarc_reject: z.boolean().default(false),
    authserv_id: value(EXPECTED.hostname, (v) => (isHostname(v) ? v : undefined)).optional(),
  })
  .transform((a) => ({
    enabled: a.enabled,
    arc: a.arc,
    enforceDmarcReject: a.enforce_dmarc_reject,
    authservId: a.authserv_id,
  }));

function parseRspamdUrl(v: unknown): string | undefined {
  if (typeof v !== "string" || !URL.canParse(v)) return undefined;
  const url = new URL(v);
  return url.protocol === "http:" && url.hostname !== "" ? url.origin : undefined;
}

/** What we do for one rspamd action; rewrite_subject adds headers (the hook cannot edit Subject). */
const verdict = (fallback: (typeof SPAM_VERDICTS)[number]) => z.enum(SPAM_VERDICTS).default(fallback);

const rspamdSchema = z
  .strictObject({
    url: value(RSPAMD_URL_EXPECTED, parseRspamdUrl).prefault("http://127.0.0.1:11333"),
    timeout: value(`${EXPECTED.duration}, greater than 0`, (v) => {
      const ms = parseDuration(v);
      return ms !== undefined && ms > 0 ? ms : undefined;
    }).prefault("10s"),
    fail: z.enum(["open", "closed"]).default("open"),
    actions: z
      .strictObject({
        reject: verdict("reject"),
        soft_reject: verdict("soft_reject"),
        rewrite_subject: verdict("add_header"),
        add_header: verdict("add_header"),
        greylist: verdict("soft_reject"),
        no_action: verdict("accept"),
      })
      .prefault({}),
  })
  .transform((r) => ({ url: r.url, timeoutMs: r.timeout, fail: r.fail, actions: r.actions }));

const dnsblSchema = z
  .strictObject({
    zones: z
      .array(
        value("a DNSBL zone such as zen.spamhaus.org", (v) =>
          isHostname(v) ? v.replace(/\.$/, "").toLowerCase() : undefined,
        ),
      )
      .prefault([]),
    check_at: z.enum(DNSBL_CHECK_POINTS).default("connect"),
  })
  .transform((d) => ({ zones: d.zones, checkAt: d.check_at }));

export const policySchema = z.strictObject({
  rate_limits: rateLimitsSchema.prefault({}),
  authentication: authenticationSchema.prefault({}),
  /** null (the default) = no rspamd check; {} = rspamd on its default address. */
  rspamd: rspamdSchema.nullable().default(null),
  dnsbl: dnsblSchema.prefault({}),
});

export type PolicySection = z.output<typeof policySchema>;

/** Fills the role- and hostname-dependent defaults in. */
export function finishPolicy(section: PolicySection, role: InstanceRole, hostname: string): PolicyConfig {
  return {
    rateLimits: section.rate_limits,
    authentication: {
      enabled: section.authentication.enabled ?? role === "input",
      arc: section.authentication.arc,
      enforceDmarcReject: section.authentication.enforceDmarcReject,
      authservId: section.authentication.authservId ?? hostname,
    },
    rspamd: section.rspamd,
    dnsbl: section.dnsbl,
  };
}

/** The policy of a section without `policy:` (for configs written out in tests). */
export function defaultPolicy(role: InstanceRole, hostname: string): PolicyConfig {
  return finishPolicy(policySchema.parse({}), role, hostname);
}
