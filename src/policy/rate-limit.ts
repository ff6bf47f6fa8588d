/**
 * Inbound rate limits (issue #5) per client IP, per authenticated user and per sender domain:
 * concurrent connections, connections per minute, messages per minute and recipients per minute.
 *
 * - A connection is counted for the client IP at connect, and for the user and the sender domain
 *   at the first MAIL of the session that names them (they are not known earlier). Over a
 *   connection limit: `421 4.7.0` (the listener closes the session).
 * - A message is counted at MAIL: `450 4.7.1` when over the limit.
 * - A recipient is counted at RCPT: `452 4.5.3` (RFC 5321 4.5.3.1.10: the client sends the rest
 *   later), keeping the recipients already accepted.
 *
 * IPv6 clients are counted per /64, the smallest network a site is normally given. The null
 * sender has no domain and is not limited by one. Events refused are not counted; when several
 * dimensions are checked for one event, those checked before the refusing one keep their count.
 * Per-session state (which slots it holds) lives in a map keyed by session id, emptied at close.
 */
import type { PolicyConfig, RateLimitValues } from "../config/types.ts";
import type { Reply } from "../message/types.ts";
import type { PolicyVerdict, SessionFacts } from "../smtp-server/types.ts";
import { clientKey } from "./ip.ts";
import type { RateLimitStore } from "./rate-limit-store.ts";

const MINUTE_MS = 60_000;

type Dimension = "ip" | "user" | "domain";

export interface RateLimitCheck {
  onConnect(session: SessionFacts): Promise<PolicyVerdict>;
  onMail(session: SessionFacts, sender: string): Promise<PolicyVerdict>;
  onRcpt(session: SessionFacts, sender: string): Promise<PolicyVerdict>;
  onClose(session: SessionFacts): Promise<void>;
  /** True when any limit is set (otherwise the check need not run). */
  readonly active: boolean;
}

interface SessionState {
  /** Slot keys held (released at close). */
  slots: string[];
  /** Users and sender domains this session was already counted as a connection for. */
  counted: Set<string>;
}

/** Lower-case domain of an address; null for the null sender or an address without one. */
export function senderDomain(sender: string): string | null {
  const at = sender.lastIndexOf("@");
  return at < 0 || at === sender.length - 1 ? null : sender.slice(at + 1).toLowerCase();
}

const NAMES: Record<Dimension, string> = { ip: "client", user: "user", domain: "sender domain" };

/** Who is over the limit, for the reply text: printable ASCII only (user names come from AUTH). */
function subject(dimension: Dimension, value: string): string {
  const shown = value.replace(/[^\x21-\x7e]/g, "?").slice(0, 100);
  return dimension === "ip" ? `client [${shown}]` : `${NAMES[dimension]} ${shown}`;
}

export function createRateLimitCheck(
  config: PolicyConfig["rateLimits"],
  store: RateLimitStore,
): RateLimitCheck {
  const limits: Record<Dimension, RateLimitValues> = {
    ip: config.clientIp,
    user: config.user,
    domain: config.senderDomain,
  };
  const sessions = new Map<string, SessionState>();
  const active = Object.values(limits).some((l) => Object.values(l).some((n) => n > 0));

  function state(session: SessionFacts): SessionState {
    const key = session.id;
    let s = sessions.get(key);
    if (s === undefined) {
      s = { slots: [], counted: new Set() };
      sessions.set(key, s);
    }
    return s;
  }

  /** Counts a connection of `value` in `dimension`: a concurrent slot, then the per-minute rate. */
  async function connection(s: SessionState, dimension: Dimension, value: string): Promise<Reply | null> {
    const l = limits[dimension];
    const slotKey = `conn:${dimension}:${value}`;
    if (l.concurrentConnections > 0) {
      if (!(await store.acquire(slotKey, l.concurrentConnections))) {
        return {
          code: 421,
          enhanced: "4.7.0",
          text: `Too many concurrent connections from ${subject(dimension, value)}, try again later`,
        };
      }
      s.slots.push(slotKey);
    }
    if (l.connectionsPerMinute > 0) {
      const taken = await store.take(`cpm:${dimension}:${value}`, l.connectionsPerMinute, MINUTE_MS);
      if (!taken.allowed) {
        if (l.concurrentConnections > 0) {
          s.slots.pop();
          await store.release(slotKey);
        }
        return {
          code: 421,
          enhanced: "4.7.0",
          text: `Too many connections from ${subject(dimension, value)}, try again later`,
        };
      }
    }
    return null;
  }

  async function rate(
    kind: "messages" | "recipients",
    dimension: Dimension,
    value: string,
  ): Promise<Reply | null> {
    const l = limits[dimension];
    const max = kind === "messages" ? l.messagesPerMinute : l.recipientsPerMinute;
    if (max <= 0) return null;
    const taken = await store.take(`${kind}:${dimension}:${value}`, max, MINUTE_MS);
    if (taken.allowed) return null;
    const text = `Too many ${kind} from ${subject(dimension, value)}, try again later`;
    return kind === "messages"
      ? { code: 450, enhanced: "4.7.1", text }
      : { code: 452, enhanced: "4.5.3", text };
  }

  /** The user and sender-domain dimensions that apply to this session and sender. */
  function others(session: SessionFacts, sender: string): [Dimension, string][] {
    const out: [Dimension, string][] = [];
    if (session.user !== null) out.push(["user", session.user.toLowerCase()]);
    const domain = senderDomain(sender);
    if (domain !== null) out.push(["domain", domain]);
    return out;
  }

  return {
    active,
    async onConnect(session) {
      if (!active) return null;
      const refused = await connection(state(session), "ip", clientKey(session.clientAddress));
      // A refused connection holds nothing, whether or not the listener reports its close.
      if (refused) sessions.delete(session.id);
      return refused;
    },
    async onMail(session, sender) {
      if (!active) return null;
      const s = state(session);
      for (const [dimension, value] of others(session, sender)) {
        const id = `${dimension}:${value}`;
        if (s.counted.has(id)) continue;
        s.counted.add(id);
        const refused = await connection(s, dimension, value);
        if (refused) return refused;
      }
      const dimensions: [Dimension, string][] = [
        ["ip", clientKey(session.clientAddress)],
        ...others(session, sender),
      ];
      for (const [dimension, value] of dimensions) {
        const refused = await rate("messages", dimension, value);
        if (refused) return refused;
      }
      return null;
    },
    async onRcpt(session, sender) {
      if (!active) return null;
      const dimensions: [Dimension, string][] = [
        ["ip", clientKey(session.clientAddress)],
        ...others(session, sender),
      ];
      for (const [dimension, value] of dimensions) {
        const refused = await rate("recipients", dimension, value);
        if (refused) return refused;
      }
      return null;
    },
    async onClose(session) {
      const key = session.id;
      const s = sessions.get(key);
      sessions.delete(key);
      for (const slot of s?.slots ?? []) await store.release(slot);
    },
  };
}
