/**
 * The validated, normalised configuration every other module receives. The YAML schema
 * (schema.ts) turns the operator's file into exactly this shape: durations in milliseconds,
 * sizes in bytes, addresses split into host and port. Nothing downstream parses strings.
 */

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

export interface TransportConfig {
  name: string;
  /** "mx": MX lookup on the recipient domain. Otherwise a fixed nexthop ([host]:port skips MX). */
  nexthop: { kind: "mx"; port: number } | { kind: "host"; host: string; port: number; lookupMx: boolean };
  tls: TlsPolicy;
  /** Source address to bind, or null for the OS default. */
  bindAddress: string | null;
  /** HELO/EHLO name; defaults to the instance hostname. */
  helo: string;
  /** Max simultaneous connections per destination site. */
  concurrency: number;
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

export interface ListenerConfig {
  host: string;
  port: number;
}

export interface Config {
  /** File the config came from, or "<built-in default>". */
  source: string;
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
  };
  relay: {
    /** CIDRs allowed to relay, e.g. "127.0.0.0/8". */
    trustedNetworks: string[];
  };
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
  };
  transports: Record<string, TransportConfig>;
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
}
