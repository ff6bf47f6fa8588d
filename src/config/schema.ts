/**
 * The zod schema of mailfleet.yaml. It validates the operator's file (snake_case keys, strict
 * objects: an unknown key is an error) and transforms it into exactly the `Config` of types.ts:
 * durations in ms, sizes in bytes, addresses split, camelCase keys, defaults filled in.
 *
 * Defaults are written in YAML terms (`prefault("25MiB")`) and go through the same parsers as the
 * operator's values, so parsing an empty file yields the built-in configuration. Every failed
 * value carries `params.expected`, the phrase the error message quotes.
 */

import { isAbsolute, resolve } from "node:path";

import { z } from "zod";
import { dkimSchema, finishDkim } from "./schema-dkim.ts";
import { feedbackSchema, finishFeedback } from "./schema-feedback.ts";
import {
  authSchema,
  defaultGreetPauseMs,
  finishInbound,
  listenItemSchema,
  tlsSchema,
} from "./schema-inbound.ts";
import { finishPolicy, policySchema } from "./schema-policy.ts";
import { checkReputationReferences, finishReputation, reputationSchema } from "./schema-reputation.ts";
import {
  checkReferences,
  finishPools,
  finishSources,
  poolsSchema,
  routesSchema,
  sourcesSchema,
  unknownName,
} from "./schema-routing.ts";
import { finishTenants, tenantsSchema } from "./schema-tenants.ts";
import { type IssueSink, value } from "./schema-value.ts";
import { checkWarmupProviders, finishProviders, providersSchema } from "./schema-warmup.ts";
import type { Config, HostPort, TransportConfig } from "./types.ts";
import {
  EXPECTED,
  isEmailAddress,
  isHostname,
  isIpLiteral,
  parseCidr,
  parseDuration,
  parseHostPort,
  parseNexthop,
  parseSize,
} from "./values.ts";

export interface SchemaContext {
  /** Directory relative paths (spool_dir, log.file) are resolved against. */
  baseDir: string;
  /** Used when the file sets no `hostname` (normally os.hostname()). */
  defaultHostname: string;
  /** Stored as Config.source. */
  source: string;
}

export const TLS_POLICIES = ["none", "opportunistic", "required"] as const;
export const LOG_FORMATS = ["text", "json"] as const;
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export const TRANSPORT_NAME_EXPECTED = "a transport name of letters, digits, '.', '_' and '-'";
const TRANSPORT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const duration = () => value(EXPECTED.duration, parseDuration);
const positiveDuration = () =>
  value(`${EXPECTED.duration}, greater than 0`, (v) => {
    const ms = parseDuration(v);
    return ms !== undefined && ms > 0 ? ms : undefined;
  });
const size = () => value(EXPECTED.size, parseSize);
const integer = (min: number) =>
  value(`an integer >= ${min}`, (v) =>
    Number.isSafeInteger(v) && (v as number) >= min ? (v as number) : undefined,
  );
const hostname = () => value(EXPECTED.hostname, (v) => (isHostname(v) ? v : undefined));
const text = (expected: string) =>
  value(expected, (v) => (typeof v === "string" && v !== "" ? v : undefined));

function resolvePath(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

const timeoutsSchema = z
  .strictObject({
    connect: positiveDuration().prefault("30s"),
    greeting: positiveDuration().prefault("5m"),
    command: positiveDuration().prefault("5m"),
    data: positiveDuration().prefault("10m"),
  })
  .transform((t) => ({ connectMs: t.connect, greetingMs: t.greeting, commandMs: t.command, dataMs: t.data }));

/** One transport, before the map key gives it a name and the hostname a default HELO. */
type UnnamedTransport = Omit<TransportConfig, "name" | "helo"> & { helo: string | undefined };

const transportSchema = z
  .strictObject({
    nexthop: value(EXPECTED.nexthop, parseNexthop).prefault("mx"),
    port: value("a port number 1-65535", (v) =>
      Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535 ? (v as number) : undefined,
    ).prefault(25),
    tls: z.enum(TLS_POLICIES).default("opportunistic"),
    pool: z.string().nullable().default(null),
    bind_address: value(EXPECTED.ip, (v) => (v === null || isIpLiteral(v) ? v : undefined)).prefault(null),
    helo: hostname().optional(),
    concurrency: integer(1).prefault(20),
    rate_delay: duration().prefault(0),
    max_per_hour: integer(0).prefault(0),
    max_messages_per_connection: integer(1).prefault(100),
    retry_schedule: z.array(positiveDuration()).min(1).prefault(["5m", "10m", "30m", "1h", "2h", "4h"]),
    max_queue_lifetime: positiveDuration().prefault("5d"),
    idle_timeout: duration().prefault("5s"),
    timeouts: timeoutsSchema.prefault({}),
  })
  .transform(
    (t): UnnamedTransport => ({
      nexthop:
        t.nexthop.kind === "mx"
          ? { kind: "mx", port: t.port }
          : t.nexthop.kind === "lmtp"
            ? t.nexthop
            : {
                kind: "host",
                host: t.nexthop.host,
                port: t.nexthop.port ?? t.port,
                lookupMx: t.nexthop.lookupMx,
              },
      tls: t.tls,
      pool: t.pool,
      bindAddress: t.bind_address,
      helo: t.helo,
      concurrency: t.concurrency,
      limits: { concurrency: t.concurrency, rateDelayMs: t.rate_delay, maxPerHour: t.max_per_hour },
      maxMessagesPerConnection: t.max_messages_per_connection,
      retryScheduleMs: t.retry_schedule,
      maxQueueLifetimeMs: t.max_queue_lifetime,
      timeouts: t.timeouts,
      idleTimeoutMs: t.idle_timeout,
    }),
  );

/** Map keys name transports in logs, metrics and the CLI, so keep them plain. */
const transportName = z.string().refine((name) => TRANSPORT_NAME_RE.test(name), {
  message: `expected ${TRANSPORT_NAME_EXPECTED}`,
  params: { expected: TRANSPORT_NAME_EXPECTED },
});

const transportsSchema = z.record(transportName, transportSchema).transform((transports) => {
  // The built-in "mx" transport always exists; a file may override it but not remove it.
  const all: Record<string, UnnamedTransport> = { mx: transportSchema.parse({}), ...transports };
  return all;
});

const limitsSchema = z
  .strictObject({
    max_message_size: size().prefault("25MiB"),
    max_recipients: integer(1).prefault(1000),
    max_line_length: integer(78).prefault(998),
    max_command_length: integer(512).prefault(998),
    min_free_disk: size().prefault("100MiB"),
    session_timeout: positiveDuration().prefault("5m"),
    max_hops: integer(1).prefault(50),
    /** Absent: the role's default (defaultGreetPauseMs). */
    greet_pause: duration().optional(),
    max_errors: integer(1).prefault(20),
    command_timeout: positiveDuration().prefault("5m"),
    min_data_rate: integer(0).prefault(500),
    max_connections_per_ip: integer(0).prefault(50),
    max_connections: integer(0).prefault(500),
  })
  .transform((l) => ({
    maxMessageSize: l.max_message_size,
    maxRecipients: l.max_recipients,
    maxLineLength: l.max_line_length,
    maxCommandLength: l.max_command_length,
    minFreeDiskBytes: l.min_free_disk,
    sessionTimeoutMs: l.session_timeout,
    maxHops: l.max_hops,
    greetPauseMs: l.greet_pause,
    maxErrors: l.max_errors,
    commandTimeoutMs: l.command_timeout,
    minDataRate: l.min_data_rate,
    maxConnectionsPerIp: l.max_connections_per_ip,
    maxConnections: l.max_connections,
  }));

const LOCAL_DOMAIN_EXPECTED = 'a domain such as bounces.example.com, or ".example.com" for its subdomains';
function parseLocalDomain(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const domain = v.trim().toLowerCase();
  return isHostname(domain.startsWith(".") ? domain.slice(1) : domain)
    ? domain.replace(/\.$/, "")
    : undefined;
}

const relaySchema = z
  .strictObject({
    trusted_networks: z.array(value(EXPECTED.cidr, parseCidr)).prefault(["127.0.0.0/8", "::1/128"]),
    local_domains: z.array(value(LOCAL_DOMAIN_EXPECTED, parseLocalDomain)).prefault([]),
  })
  .transform((r) => ({ trustedNetworks: r.trusted_networks, localDomains: r.local_domains }));

const dnsSchema = z
  .strictObject({
    servers: z
      .array(value(EXPECTED.dnsServer, (v): HostPort | undefined => parseHostPort(v, dnsServerRules)))
      .prefault([]),
    timeout: positiveDuration().prefault("5s"),
    tries: integer(1).prefault(2),
  })
  .transform((d) => ({ servers: d.servers, timeoutMs: d.timeout, tries: d.tries }));
const dnsServerRules = { defaultPort: 53, minPort: 1, ipOnly: true };

const deliverySchema = z
  .strictObject({
    allow_private_destinations: z.boolean().default(false),
    default_transport: text("a transport name").prefault("mx"),
    threads: integer(0).prefault(1),
  })
  .transform((d) => ({
    allowPrivateDestinations: d.allow_private_destinations,
    defaultTransport: d.default_transport,
    threads: d.threads,
  }));

const adminSchema = z.strictObject({
  listen: value(`${EXPECTED.listen}, or null to disable`, (v) =>
    v === null ? null : parseHostPort(v, { minPort: 0 }),
  ).prefault("127.0.0.1:0"),
});

/** Keys every instance section has (and a single-instance file has at top level). */
export const instanceShape = {
  /** Optional: a fleet names each instance's spool after it (./var/spool/NAME). */
  spool_dir: text(EXPECTED.path).optional(),
  /** Optional: a fleet's default depends on the role. */
  listen: z.array(listenItemSchema).optional(),
  limits: limitsSchema.prefault({}),
  relay: relaySchema.prefault({}),
  delivery: deliverySchema.prefault({}),
  /** Optional so a relaying role can be refused for defining its own. */
  transports: transportsSchema.optional(),
  routes: routesSchema.optional(),
  bounce: z
    .strictObject({
      from: value(EXPECTED.email, (v) => (isEmailAddress(v) ? v : undefined)).optional(),
      delay_warning_after: duration().prefault("4h"),
    })
    .prefault({}),
  admin: adminSchema.prefault({}),
  policy: policySchema.prefault({}),
  tls: tlsSchema,
  auth: authSchema,
  dkim: dkimSchema,
  feedback: feedbackSchema.optional(),
  tenants: tenantsSchema,
  reputation: reputationSchema.optional(),
};

/** Keys shared by the whole fleet: the host's name, resolvers, addresses, and the one log. */
export const fleetWideShape = {
  hostname: hostname().optional(),
  run_dir: text(EXPECTED.path).prefault("./var/run"),
  dns: dnsSchema.prefault({}),
  sources: sourcesSchema.prefault({}),
  pools: poolsSchema.prefault({}),
  providers: providersSchema.prefault({}),
  log: z
    .strictObject({
      format: z.enum(LOG_FORMATS).default("text"),
      file: text(`${EXPECTED.path}, or "-" for stdout`).prefault("-"),
      level: z.enum(LOG_LEVELS).default("info"),
    })
    .prefault({}),
};

type InstanceSection = z.output<z.ZodObject<typeof instanceShape>>;
type FleetWide = z.output<z.ZodObject<typeof fleetWideShape>>;

/** Cross-reference checks of one instance section; `at` is where the section sits in the file. */
export function checkInstanceReferences(
  section: InstanceSection,
  wide: FleetWide,
  at: (string | number)[],
  check: IssueSink,
): void {
  const sink = {
    addIssue: (issue: Parameters<typeof check.addIssue>[0]) =>
      check.addIssue({ ...issue, path: [...at, ...issue.path] }),
  };
  const transports = section.transports ?? defaultTransports();
  checkReferences(
    { sources: wide.sources, pools: wide.pools, routes: section.routes ?? [], transports },
    { addIssue: (issue) => (issue.path[0] === "pools" ? check.addIssue(issue) : sink.addIssue(issue)) },
  );
  checkWarmupProviders(wide.sources, wide.providers, check);
  checkReputationReferences(
    section.reputation,
    {
      sources: wide.sources,
      pools: wide.pools,
      transports: Object.fromEntries(
        Object.entries(transports).map(([k, t]) => [k, { pool: t.pool, bindAddress: t.bindAddress }]),
      ),
    },
    sink,
  );
  const name = section.delivery.defaultTransport;
  if (Object.hasOwn(transports, name)) return;
  unknownName(sink, ["delivery", "default_transport"], name, "transport", Object.keys(transports));
}

function defaultTransports(): Record<string, UnnamedTransport> {
  return transportsSchema.parse({});
}

/** Resolves a path from the file against its directory. */
export function resolveConfigPath(baseDir: string, path: string): string {
  return resolvePath(baseDir, path);
}

/**
 * Builds one instance's complete Config from its section and the fleet-wide keys. `extraTransports`
 * are generated ones (relay_to); they take part like the file's own.
 */
export function finishInstance(
  ctx: SchemaContext,
  section: InstanceSection,
  wide: FleetWide,
  identity: Config["instance"],
  defaults: { spoolDir: string; listen: Config["listen"] },
  extraTransports: Record<string, UnnamedTransport> = {},
): Config {
  const hostnameValue = wide.hostname ?? ctx.defaultHostname;
  const transports: Record<string, TransportConfig> = {};
  for (const [name, transport] of Object.entries({
    ...(section.transports ?? defaultTransports()),
    ...extraTransports,
  })) {
    transports[name] = { ...transport, name, helo: transport.helo ?? hostnameValue };
  }
  return {
    source: ctx.source,
    instance: identity,
    hostname: hostnameValue,
    spoolDir: resolvePath(ctx.baseDir, section.spool_dir ?? defaults.spoolDir),
    listen: section.listen ?? defaults.listen,
    limits: {
      ...section.limits,
      greetPauseMs: section.limits.greetPauseMs ?? defaultGreetPauseMs(identity.role),
    },
    relay: section.relay,
    ...finishInbound(ctx.baseDir, section),
    dns: wide.dns,
    delivery: section.delivery,
    transports,
    sources: finishSources(wide.sources, hostnameValue),
    pools: finishPools(wide.pools),
    // Absent unless the file names providers: the shipped groups apply then (schema-warmup.ts).
    ...(Object.keys(wide.providers).length > 0 ? { providers: finishProviders(wide.providers) } : {}),
    routes: section.routes ?? [],
    bounce: {
      from: section.bounce.from ?? `MAILER-DAEMON@${hostnameValue}`,
      delayWarningAfterMs: section.bounce.delay_warning_after,
    },
    log: finishLog(ctx, wide),
    admin: { listen: section.admin.listen },
    policy: finishPolicy(section.policy, identity.role, hostnameValue),
    dkim: finishDkim(ctx.baseDir, section.dkim),
    feedback: finishFeedback(ctx.baseDir, section.feedback),
    tenants: finishTenants(section.tenants),
    reputation: finishReputation(section.reputation, ctx.baseDir),
  };
}

export function finishLog(ctx: SchemaContext, wide: FleetWide): Config["log"] {
  return {
    format: wide.log.format,
    file: wide.log.file === "-" ? "-" : resolvePath(ctx.baseDir, wide.log.file),
    level: wide.log.level,
  };
}

export { transportSchema, type UnnamedTransport };
