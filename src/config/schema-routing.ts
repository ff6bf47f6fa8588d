/**
 * The YAML schema of source IPs, pools and routes (issue #3), and the cross-reference check that
 * ties them to transports. Kept apart from schema.ts so each file stays one readable job.
 *
 * Names and patterns are lower-cased here, so the router compares plain strings. A reference to a
 * pool, source or transport that does not exist is reported at the referencing node with a
 * "did you mean" hint; issue paths are kept in the intermediate values for exactly that.
 */

import { z } from "zod";
import { tenantName } from "../feedback/tenant.ts";
import { didYouMean } from "./errors.ts";
import { addExpected, type IssueSink } from "./schema-value.ts";
import { OVERFLOW_MODES, warmupSchema } from "./schema-warmup.ts";
import type { PoolConfig, RouteRule, SourceConfig, WarmupConfig } from "./types.ts";
import { EXPECTED, isEmailAddress, isHostname, isIpLiteral } from "./values.ts";

export const POOL_STRATEGIES = ["round_robin", "weighted", "sticky"] as const;
export const NAME_EXPECTED = "a name of letters, digits, '.', '_' and '-'";
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const ROUTE_EXPECTED = {
  domain: 'a domain such as example.com, or ".example.com" for its subdomains',
  mx: 'an MX host name such as mx.example.com, or a pattern such as "*.google.com"',
  sender: 'a sender address such as news@example.com, or "<>" for the null sender',
  tenant: "a tenant name (letters, digits, '.', '_', '@', '+' and '-')",
  match: "at least one of recipient_domain, mx, sender, sender_domain, tenant",
} as const;

type Path = (string | number)[];

/** A string checked and normalised by `parse`; undefined becomes one issue quoting `expected`. */
function checked(expected: string, parse: (input: string) => string | undefined) {
  return z.string().transform((input, ctx): string => {
    const out = parse(input.trim());
    if (out === undefined) {
      ctx.issues.push({ code: "custom", input, message: `expected ${expected}`, params: { expected } });
      return z.NEVER;
    }
    return out;
  });
}

/** Map keys naming sources and pools: plain, like transport names. */
export const plainName = z.string().refine((name) => NAME_RE.test(name), {
  message: `expected ${NAME_EXPECTED}`,
  params: { expected: NAME_EXPECTED },
});

function stripDot(text: string): string {
  return text.endsWith(".") ? text.slice(0, -1) : text;
}

/** "example.com" or ".example.com" (subdomains only); lower-case, no trailing dot. */
export function parseDomainPattern(text: string): string | undefined {
  const lower = stripDot(text.toLowerCase());
  const bare = lower.startsWith(".") ? lower.slice(1) : lower;
  return isHostname(bare) && !bare.endsWith(".") ? lower : undefined;
}

/** "*.google.com" or an exact host name; lower-case, no trailing dot. */
export function parseMxPattern(text: string): string | undefined {
  const lower = stripDot(text.toLowerCase());
  const bare = lower.startsWith("*.") ? lower.slice(2) : lower;
  return isHostname(bare) && !bare.endsWith(".") ? lower : undefined;
}

/** A full address, lower-cased; "" and "<>" both mean the null sender and become "". */
export function parseSenderPattern(text: string): string | undefined {
  if (text === "" || text === "<>") return "";
  return isEmailAddress(text) ? text.toLowerCase() : undefined;
}

/**
 * One string or a non-empty list of them (any entry matches), each checked by `parse`. A bad entry
 * is reported at the entry itself; one string is a list of one.
 */
function oneOrMany(expected: string, parse: (input: string) => string | undefined) {
  return z.unknown().transform((input, ctx): string[] => {
    const single = typeof input === "string";
    const items: unknown[] | undefined = single ? [input] : Array.isArray(input) ? input : undefined;
    if (items === undefined || items.length === 0) {
      const listExpected = `${expected}; or a non-empty list of them`;
      ctx.issues.push({
        code: "custom",
        input,
        message: `expected ${listExpected}`,
        params: { expected: listExpected },
      });
      return z.NEVER;
    }
    const out: string[] = [];
    for (const [i, item] of items.entries()) {
      const parsed = typeof item === "string" ? parse(item.trim()) : undefined;
      if (parsed !== undefined) {
        out.push(parsed);
        continue;
      }
      const path = single ? [] : [i];
      ctx.issues.push({
        code: "custom",
        input: item,
        path,
        message: `expected ${expected}`,
        params: { expected },
      });
    }
    return out.length === items.length ? out : z.NEVER;
  });
}

const sourceSchema = z.strictObject({
  address: z.unknown().transform((input, ctx): string => {
    if (isIpLiteral(input)) return input.toLowerCase();
    const expected = EXPECTED.ip;
    ctx.issues.push({ code: "custom", input, message: `expected ${expected}`, params: { expected } });
    return z.NEVER;
  }),
  helo: checked(EXPECTED.hostname, (v) => (isHostname(v) ? stripDot(v) : undefined)).optional(),
  warmup: warmupSchema.optional(),
});

export const sourcesSchema = z.record(plainName, sourceSchema);

/** A pool member before names are checked: where it sits, for the error. */
interface RawMember {
  source: string;
  weight: number;
  at: Path;
}

const memberSchema = z.union([
  z.string().transform((source): Omit<RawMember, "at"> => ({ source, weight: 1 })),
  z
    .strictObject({
      source: z.string(),
      weight: z.number().int().min(1).default(1),
    })
    .transform((m): Omit<RawMember, "at"> & { objectForm: true } => ({ ...m, objectForm: true })),
]);

export const poolsSchema = z.record(
  plainName,
  z
    .strictObject({
      strategy: z.enum(POOL_STRATEGIES).default("round_robin"),
      sources: z.array(memberSchema).min(1),
      /** Warm-up overflow for picks from this pool; overrides the members' own. */
      warmup_overflow: z.enum(OVERFLOW_MODES).optional(),
    })
    .transform((p) => ({
      strategy: p.strategy,
      warmupOverflow: p.warmup_overflow,
      members: p.sources.map(
        (m, i): RawMember => ({
          source: m.source,
          weight: m.weight,
          at: "objectForm" in m ? ["sources", i, "source"] : ["sources", i],
        }),
      ),
    })),
);

export type RawPools = z.output<typeof poolsSchema>;

const matchSchema = z
  .strictObject({
    recipient_domain: oneOrMany(ROUTE_EXPECTED.domain, parseDomainPattern).optional(),
    mx: oneOrMany(ROUTE_EXPECTED.mx, parseMxPattern).optional(),
    sender: oneOrMany(ROUTE_EXPECTED.sender, parseSenderPattern).optional(),
    sender_domain: oneOrMany(ROUTE_EXPECTED.domain, parseDomainPattern).optional(),
    tenant: oneOrMany(ROUTE_EXPECTED.tenant, (v) => tenantName(v) ?? undefined).optional(),
  })
  .superRefine((m, check) => {
    if (Object.values(m).some((v) => v !== undefined)) return;
    check.addIssue({
      code: "custom",
      input: m,
      message: `expected ${ROUTE_EXPECTED.match}`,
      params: { expected: ROUTE_EXPECTED.match },
    });
  })
  .transform((m): RouteRule["match"] => ({
    recipientDomain: m.recipient_domain ?? null,
    mx: m.mx ?? null,
    sender: m.sender ?? null,
    senderDomain: m.sender_domain ?? null,
    tenant: m.tenant ?? null,
  }));

export const routesSchema = z
  .array(
    z.strictObject({
      name: checked("a non-empty rule name", (v) => (v === "" ? undefined : v)).optional(),
      match: matchSchema,
      transport: z.string(),
    }),
  )
  .transform((rules) =>
    rules.map(
      (r, i): RouteRule => ({ index: i + 1, name: r.name ?? null, match: r.match, transport: r.transport }),
    ),
  );

/** What the cross-reference check needs from the partly parsed file. */
export interface ReferenceInput {
  sources: Record<string, unknown>;
  pools: RawPools;
  routes: RouteRule[];
  transports: Record<string, { pool: string | null; bindAddress: string | null }>;
}

/** One issue at `path` for a name that is not among `known`, with a did-you-mean hint. */
export function unknownName(check: IssueSink, path: Path, name: string, what: string, known: string[]) {
  const list = known.length > 0 ? ` (one of ${known.join(", ")})` : " (none is configured)";
  const suggestion = didYouMean(name, known);
  const hint = suggestion === undefined ? "" : `; did you mean ${JSON.stringify(suggestion)}?`;
  const expected = `the name of a configured ${what}${list}${hint}`;
  addExpected(check, path, name, expected);
}

/** Every name referenced must exist; a transport takes a pool or a bind address, not both. */
export function checkReferences(raw: ReferenceInput, check: IssueSink): void {
  const sourceNames = Object.keys(raw.sources);
  const poolNames = Object.keys(raw.pools);
  const transportNames = Object.keys(raw.transports);
  for (const [poolName, pool] of Object.entries(raw.pools)) {
    const seen = new Set<string>();
    for (const member of pool.members) {
      const path = ["pools", poolName, ...member.at];
      if (!Object.hasOwn(raw.sources, member.source)) {
        unknownName(check, path, member.source, "source", sourceNames);
      } else if (seen.has(member.source)) {
        const expected = `each source at most once in a pool ("${member.source}" is listed twice)`;
        check.addIssue({
          code: "custom",
          path,
          input: member.source,
          message: expected,
          params: { expected },
        });
      }
      seen.add(member.source);
    }
  }
  for (const [name, transport] of Object.entries(raw.transports)) {
    if (transport.pool === null) continue;
    if (!Object.hasOwn(raw.pools, transport.pool)) {
      unknownName(check, ["transports", name, "pool"], transport.pool, "pool", poolNames);
    }
    if (transport.bindAddress !== null) {
      const expected = "either pool or bind_address, not both (a pool brings its own source addresses)";
      addExpected(check, ["transports", name, "bind_address"], transport.bindAddress, expected);
    }
  }
  for (const [i, rule] of raw.routes.entries()) {
    if (Object.hasOwn(raw.transports, rule.transport)) continue;
    unknownName(check, ["routes", i, "transport"], rule.transport, "transport", transportNames);
  }
}

/** Final shapes: names from the map keys, a source's HELO defaulting to the instance hostname. */
export function finishSources(
  raw: Record<string, { address: string; helo?: string | undefined; warmup?: WarmupConfig | undefined }>,
  hostname: string,
): Record<string, SourceConfig> {
  const out: Record<string, SourceConfig> = {};
  for (const [name, s] of Object.entries(raw))
    out[name] = {
      name,
      address: s.address,
      helo: s.helo ?? hostname,
      ...(s.warmup ? { warmup: s.warmup } : {}),
    };
  return out;
}

export function finishPools(raw: RawPools): Record<string, PoolConfig> {
  const out: Record<string, PoolConfig> = {};
  for (const [name, p] of Object.entries(raw)) {
    out[name] = {
      name,
      strategy: p.strategy,
      members: p.members.map((m) => ({ source: m.source, weight: m.weight })),
      ...(p.warmupOverflow ? { warmupOverflow: p.warmupOverflow } : {}),
    };
  }
  return out;
}
