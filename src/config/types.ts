/**
 * The validated, normalised configuration every other module receives. The YAML schema
 * (schema.ts) turns the operator's file into exactly this shape: durations in milliseconds,
 * sizes in bytes, addresses split into host and port. Nothing downstream parses strings.
 */
import type { TenantsConfig } from "../feedback/tenant.ts";
import type { FeedbackConfig } from "./schema-feedback.ts";
import type { ReputationConfig } from "./schema-reputation.ts";

export interface HostPort {
  host: string;
  port: number;
}

export type TlsPolicy = "none" | "opportunistic" | "required";

export interface TransportTimeouts {
  /** TCP connect. */
  connectMs: number;
  /** RFC 5321 4.5.3.2: initial 220 greeting, 5 min. */
  greetingMs: number;
  /** Per command reply (EHLO, MAIL 5 min, RCPT 5 min, DATA 2 min); the socket inactivity limit. */
  commandMs: number;
  /** Data block 3 min; final dot reply 10 min (we use the larger as the data-phase limit). */
  dataMs: number;
}

/** An address mail may leave from, with the HELO name that matches its PTR. */
export interface SourceConfig {
  name: string;
  address: string;
  helo: string;
  /** Daily caps per destination provider while the IP warms up (src/reputation/warmup*.ts). */
  warmup?: WarmupConfig | null;
}

/** Messages per UTC day from day 1 on: a table, or start x growth^(day-1) up to a ceiling. */
export type WarmupSchedule =
  | { kind: "table"; days: number[] }
  | { kind: "growth"; start: number; growth: number; ceiling: number };

export interface WarmupConfig {
  /** Unix ms of 00:00 UTC of day 1. */
  startDate: number;
  /** Past its cap: the pool's other members take the mail, or it waits for the next day. */
  overflow: "warm_ips" | "wait";
  /** By provider name (see Config.providers); "default" for every other destination. */
  schedules: Record<string, WarmupSchedule>;
}

export type PoolStrategy = "round_robin" | "weighted" | "sticky";

/** A named set of sources and how to pick one per delivery. */
export interface PoolConfig {
  name: string;
  strategy: PoolStrategy;
  /** Source names with weights (weight 1 unless given; only "weighted" uses it). */
  members: { source: string; weight: number }[];
  /** Warm-up overflow for picks from this pool, over the members' own (src/reputation/warmup.ts). */
  warmupOverflow?: "warm_ips" | "wait";
}

/** Per source IP x destination site limits of a transport. 0 = no limit. */
export interface DestinationLimits {
  /** Simultaneous connections per source IP x site. */
  concurrency: number;
  /** Minimum gap between deliveries per source IP x site (Postfix's rate delay), ms. */
  rateDelayMs: number;
  /** Messages per rolling hour per source IP x site. */
  maxPerHour: number;
}

/** One routing rule: every condition given must match; within a list, any entry matches. */
export interface RouteRule {
  /** Position in the file (1-based), for `route explain`. */
  index: number;
  /** Optional label for logs and explain. */
  name: string | null;
  match: {
    /** Exact domains, or ".example.com" for subdomains (lower-case). */
    recipientDomain: string[] | null;
    /** MX host name patterns, "*.google.com" or exact (lower-case, no trailing dot). */
    mx: string[] | null;
    /** Full sender addresses (lower-case). */
    sender: string[] | null;
    /** Sender domains, exact or ".example.com". */
    senderDomain: string[] | null;
    /** Tenant names (lower-case); never matches mail without a tenant. */
    tenant: string[] | null;
  };
  transport: string;
}

export type Nexthop =
  | { kind: "mx"; port: number }
  | { kind: "host"; host: string; port: number; lookupMx: boolean }
  | { kind: "lmtp"; host: string; port: number; socketPath: null }
  | { kind: "lmtp"; host: null; port: null; socketPath: string };

export interface TransportConfig {
  name: string;
  /** Pool name the source IP is picked from, or null (then bindAddress, or the OS default). */
  pool: string | null;
  /**
   * "mx": MX lookup on the recipient domain. "host": a fixed nexthop ([host]:port skips MX).
   * "lmtp": LMTP to a host (no MX lookup) or to a Unix socket (`socketPath`), e.g. a mail store.
   */
  nexthop: Nexthop;
  tls: TlsPolicy;
  /** Source address to bind, or null for the OS default. */
  bindAddress: string | null;
  /** HELO/EHLO name; defaults to the instance hostname. */
  helo: string;
  /** Max simultaneous connections per source IP x destination site (same as limits.concurrency). */
  concurrency: number;
  /** All per source IP x destination site limits. */
  limits: DestinationLimits;
  /** Messages sent over one connection before it is closed and reopened. */
  maxMessagesPerConnection: number;
  /** Delays between attempts, in ms: [first retry, second, ...]; the last repeats. */
  retryScheduleMs: number[];
  /** Past this age a message bounces with 4.4.7. */
  maxQueueLifetimeMs: number;
  timeouts: TransportTimeouts;
  /** Idle connections to a site are kept this long for reuse. */
  idleTimeoutMs: number;
}

/**
 * TLS on a listener: "implicit" = TLS from the first byte (SMTPS, port 465); "starttls" = plain,
 * offering STARTTLS; "none" = plain without STARTTLS.
 */
export type ListenerTls = "implicit" | "starttls" | "none";

export interface ListenerConfig {
  host: string;
  port: number;
  /** Absent: "starttls" when the instance has `tls`, else "none". */
  tls?: ListenerTls;
}

/** Certificate chain and private key (PEM files) for the listener's TLS. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** SMTP AUTH (PLAIN, LOGIN; over TLS only) for submission clients. */
export interface AuthConfig {
  /** Logins with scrypt hashes and their allowed senders (`mailfleet user add`). */
  usersFile: string;
  /** Failed AUTHs per client IP within failureWindowMs before further tries get 450 4.7.1; 0 = no limit. */
  maxFailures: number;
  failureWindowMs: number;
}

/**
 * What an instance is for. Only "output" and "all" deliver to the world; "submission" and "input"
 * hand every message to another instance of the fleet (`relay_to`).
 */
export type InstanceRole = "submission" | "input" | "output" | "all";

/** One instance of the fleet: its own process, spool, listeners, routes and bounce settings. */
export interface Config {
  /** File the config came from, or "<built-in default>". */
  source: string;
  instance: {
    /** Map key under `instances:`; "main" for a single-instance file. */
    name: string;
    role: InstanceRole;
    /** Disabled instances are not started by the supervisor. */
    enabled: boolean;
    /** Instance every message is relayed to (over SMTP on loopback), or null when this one delivers. */
    relayTo: string | null;
  };
  /** Our name: Received headers, default HELO, DSN reporting MTA. */
  hostname: string;
  spoolDir: string;
  listen: ListenerConfig[];
  limits: {
    /** Bytes; announced with SIZE. */
    maxMessageSize: number;
    maxRecipients: number;
    /** Longest line of message content, not counting CRLF (RFC 5321: 998). */
    maxLineLength: number;
    /** Longest SMTP command line in bytes (RFC 5321: 512; we allow more for DSN/SMTPUTF8 params). */
    maxCommandLength: number;
    /** Below this many free bytes in the spool's file system, MAIL gets 452 4.3.1. */
    minFreeDiskBytes: number;
    /** Idle SMTP session timeout on the listener. */
    sessionTimeoutMs: number;
    /** More Received headers than this means a mail loop: 554 5.4.0 (Postfix's hopcount_limit). */
    maxHops: number;
    /** Clients outside trusted networks are greeted after this pause; talking first: 554 5.5.0. */
    greetPauseMs: number;
    /** Error replies (4xx/5xx) a session may collect without delivering mail: then 421 4.7.0. */
    maxErrors: number;
    /** A command line must arrive complete within this time: then 421 4.4.2. */
    commandTimeoutMs: number;
    /** During DATA the client must keep up this many bytes per second (after commandTimeoutMs). */
    minDataRate: number;
    /** Simultaneous sessions per client IP outside trusted networks; 0 = no limit. */
    maxConnectionsPerIp: number;
    /**
     * Sessions in all listeners of the instance beyond which clients outside trusted networks
     * get 421 (trusted clients are never refused, but count); 0 = no limit.
     */
    maxConnections: number;
  };
  relay: {
    /** CIDRs allowed to relay, e.g. "127.0.0.0/8". */
    trustedNetworks: string[];
    /**
     * Recipient domains anyone may send to (lower-case; ".example.com" = any subdomain), e.g.
     * the bounce and feedback-loop domains of an input instance. Trusted networks and
     * authenticated clients may send anywhere.
     */
    localDomains: string[];
  };
  /** Certificate for STARTTLS and implicit-TLS listeners; null = no TLS offered. */
  tls: TlsFiles | null;
  /** SMTP AUTH for submission; null = AUTH not offered. */
  auth: AuthConfig | null;
  dns: {
    /** Resolver servers; empty = the system's resolvers. */
    servers: HostPort[];
    timeoutMs: number;
    tries: number;
  };
  delivery: {
    /** When false, an MX that resolves to loopback/private/link-local space is refused. */
    allowPrivateDestinations: boolean;
    defaultTransport: string;
    /**
     * Worker threads that run the outbound SMTP sessions, so that sending and receiving use
     * separate cores; 0 runs them on the instance's main thread.
     */
    threads: number;
  };
  transports: Record<string, TransportConfig>;
  sources: Record<string, SourceConfig>;
  pools: Record<string, PoolConfig>;
  /**
   * Destination providers by MX host pattern, for warm-up schedules: the shipped groups with the
   * file's `providers:` merged over them; absent when the file has none (the shipped ones apply).
   */
  providers?: Record<string, string[]>;
  /** Ordered; the first match wins; delivery.defaultTransport applies when none matches. */
  routes: RouteRule[];
  bounce: {
    /** From: of DSNs we generate (envelope sender of a DSN is always the null sender). */
    from: string;
    /**
     * A message still pending this long after arrival gets one delay DSN, for the recipients
     * whose NOTIFY asks for DELAY explicitly. 0 = never.
     */
    delayWarningAfterMs: number;
  };
  log: {
    format: "text" | "json";
    /** "-" for stdout, otherwise a file path. */
    file: string;
    level: "debug" | "info" | "warn" | "error";
  };
  admin: {
    /** Loopback HTTP API used by the CLI (mailq). null disables it. */
    listen: HostPort | null;
  };
  /** Inbound policy checks of the listener (src/policy): rate limits, SPF/DKIM/DMARC, rspamd, DNSBL. */
  policy: PolicyConfig;
  /** DKIM signing of outgoing mail (delivering roles only; src/dkim). */
  dkim: DkimConfig;
  /** VERP return paths and report ingestion (src/feedback); absent = none. */
  feedback?: FeedbackConfig;
  /** Where a message's tenant comes from (src/feedback/tenant.ts). */
  tenants: TenantsConfig;
  /** Reputation control (src/reputation): automatic isolation of tenants; absent = none. */
  reputation?: ReputationConfig;
}

export type DkimAlgorithm = "rsa-sha256" | "ed25519-sha256";

/** One DKIM key: which mail it signs (by author domain) and how. */
export interface DkimSignerConfig {
  /** d= (lower-case). */
  domain: string;
  /** s=; the key is published at SELECTOR._domainkey.DOMAIN. */
  selector: string;
  /** PEM private key (RSA >= 1024 bits, or Ed25519), path resolved against the config file. */
  keyFile: string;
  /** null: from the key's type. */
  algorithm: DkimAlgorithm | null;
  /** Header fields to sign (h=); null: mailauth's default list. */
  headers: string[] | null;
  /** "all", or author domains: exact, or ".example.com" for its subdomains (lower-case). */
  match: "all" | string[];
}

export interface DkimConfig {
  /** Every signer that matches a message adds its own DKIM-Signature, in this order. */
  signers: DkimSignerConfig[];
}

/** Limits of one rate-limit dimension (client IP, user, sender domain). 0 = no limit. */
export interface RateLimitValues {
  concurrentConnections: number;
  connectionsPerMinute: number;
  messagesPerMinute: number;
  recipientsPerMinute: number;
}

/** rspamd's actions (snake_case) and what we do for each. */
export type RspamdAction =
  | "reject"
  | "soft_reject"
  | "rewrite_subject"
  | "add_header"
  | "greylist"
  | "no_action";
export type SpamVerdictAction = "reject" | "soft_reject" | "add_header" | "accept";

export interface PolicyConfig {
  rateLimits: {
    clientIp: RateLimitValues;
    user: RateLimitValues;
    senderDomain: RateLimitValues;
    /** Bound on remembered keys per window kind; the least recently seen are dropped first. */
    maxKeys: number;
  };
  /** SPF, DKIM, DMARC and ARC with mailauth; adds Authentication-Results. */
  authentication: {
    enabled: boolean;
    arc: boolean;
    /** Refuse (550 5.7.1) mail that fails DMARC of a domain publishing p=reject. */
    enforceDmarcReject: boolean;
    /** authserv-id of the Authentication-Results header (the hostname by default). */
    authservId: string;
  };
  /** null = no rspamd check. */
  rspamd: {
    url: string;
    timeoutMs: number;
    /** rspamd down, timing out or answering garbage: accept (open) or 451 4.7.1 (closed). */
    fail: "open" | "closed";
    actions: Record<RspamdAction, SpamVerdictAction>;
  } | null;
  dnsbl: {
    /** DNS blocklist zones, e.g. zen.spamhaus.org; empty = no DNSBL check. */
    zones: string[];
    /** Refuse a listed client instead of the greeting, or at each RCPT. */
    checkAt: "connect" | "rcpt";
  };
}

/**
 * The whole file: every instance plus what the supervisor needs. A single-instance file (no
 * `instances:` key) is a fleet of one instance named "main" with role "all".
 */
export interface FleetConfig {
  source: string;
  /** Supervisor's control socket (mode 0600 in a 0700 directory) and pid file. */
  runDir: string;
  /** The one shared log every instance appends its lines to (each line names its instance). */
  log: Config["log"];
  /** In file order; each is complete (fleet-wide keys such as dns and sources merged in). */
  instances: Record<string, Config>;
}
