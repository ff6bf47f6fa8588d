/**
 * The delivery module's contract: resolve where a domain's mail goes, open a session to a
 * destination site, push messages through it. Every result is data (RecipientOutcome); nothing
 * here throws for an SMTP or DNS failure, and nothing here reaches into the scheduler.
 */
import type { TransportConfig } from "../config/types.ts";
import type { FailureScope, QueueId, RecipientOutcome, Reply } from "../message/types.ts";

export interface MxHost {
  /** Host name as published in the MX record (or the domain itself for the A/AAAA fallback). */
  name: string;
  preference: number;
  /** IPv4/IPv6 addresses for the host, in resolver order. */
  addresses: string[];
}

/** A destination site: the MX host set a domain resolves to, as one unit of limits and connections. */
export interface Site {
  /** Stable key: transport name + sorted MX names, so domains sharing MXes share a site. */
  key: string;
  transport: TransportConfig;
  hosts: MxHost[];
  port: number;
}

/**
 * Key of one source address x site, the unit the limits apply to: the scheduler's ready queue,
 * and the delivery thread's rate delay. `source` null: the transport's own binding.
 */
export function sourceSiteKey(siteKey: string, source: string | null): string {
  return `${siteKey}|${source ?? "*"}`;
}

export type Resolution =
  | { kind: "site"; site: Site }
  /** Null MX, NXDOMAIN, private address refused... or a temporary DNS failure. */
  | { kind: "failure"; permanent: boolean; reply: Reply; scope: FailureScope };

export interface DestinationResolver {
  /** Resolves the recipient domain for a transport (MX lookup, or the transport's nexthop). */
  resolve(domain: string, transport: TransportConfig): Promise<Resolution>;
  /**
   * The domain's MX host names (lower-case, no trailing dot) for routes that match on MX: the
   * domain itself when it has no MX records, [] for a Null MX or a domain that does not exist,
   * null when the lookup failed for now. Resolvers without it make MX rules never match.
   */
  mxHostNames?(domain: string): Promise<string[] | null>;
}

/** One message's worth of work on one site: the pending recipients that route there. */
export interface DeliveryJob {
  id: QueueId;
  sender: string;
  recipients: { index: number; address: string; notify: string[] | null; orcpt: string | null }[];
  ret: "FULL" | "HDRS" | null;
  envid: string | null;
  bodyType: "7BIT" | "8BITMIME";
  smtpUtf8: boolean;
  body: Buffer;
}

export interface Pacing {
  minGapMs: number;
  /** Awaited right before the MAIL FROM of the job's first transaction. */
  beforeTransaction?: () => Promise<void>;
}

/** An open SMTP connection to a site, reusable for several messages. */
export interface SiteSession {
  /**
   * Delivers one job; one outcome per job recipient. Never rejects. `pacing.minGapMs`: the
   * site's current rate delay, for a session that starts transactions away from the scheduler's
   * start slots (a delivery thread) and must keep that gap between them itself.
   */
  deliver(job: DeliveryJob, pacing?: Pacing): Promise<RecipientOutcome[]>;
  /** False once the connection broke or hit the per-connection message limit. */
  readonly usable: boolean;
  close(): Promise<void>;
}

export type OpenResult =
  | { ok: true; session: SiteSession }
  /**
   * No host of the site would take a session; the reply describes the last failure.
   * `bindFailed` is set when the source address itself could not be bound (not assigned to this
   * host): no destination was tried, and another source may well work.
   */
  | { ok: false; permanent: boolean; reply: Reply; scope: FailureScope; bindFailed?: boolean };

export interface SiteConnector {
  open(site: Site): Promise<OpenResult>;
}
