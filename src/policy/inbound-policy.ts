/**
 * The listener's InboundPolicy (issue #5), composed from the checks the instance's `policy:`
 * config turns on. Each hook runs its checks in a fixed order and answers with the first refusal:
 *
 * - connect: rate limits (cheap, in memory, so a flood causes no DNS traffic), then DNSBL when
 *   `dnsbl.check_at` is connect;
 * - MAIL: rate limits (user and sender-domain connections, messages per minute);
 * - RCPT: DNSBL when `dnsbl.check_at` is rcpt (looked up once per session, not for authenticated
 *   clients), then rate limits (recipients per minute);
 * - DATA: SPF/DKIM/DMARC/ARC (forged Authentication-Results out, ours in, DMARC p=reject), then
 *   rspamd; the headers of both are prepended.
 *
 * A check that throws is a bug or a broken backend: it is logged and the hook goes on as if the
 * check had passed, so a policy failure never loses mail (rspamd's own fail open/closed aside).
 * Refusals are logged by the listener, with the session.
 */
import type { Logger } from "pino";
import type { Config } from "../config/types.ts";
import type { Reply } from "../message/types.ts";
import type { DataVerdict, InboundPolicy, SessionFacts } from "../smtp-server/types.ts";
import { type AuthenticationCheck, createAuthenticationCheck } from "./authentication.ts";
import { createPolicyResolver, type PolicyResolver } from "./dns.ts";
import { createDnsblCheck, type DnsblCheck, type DnsblListing, dnsblReply } from "./dnsbl.ts";
import { plainIp } from "./ip.ts";
import { createRateLimitCheck } from "./rate-limit.ts";
import { createMemoryRateLimitStore, type RateLimitStore } from "./rate-limit-store.ts";
import { createRspamdCheck, type RspamdCheck } from "./rspamd.ts";

export interface InboundPolicyDeps {
  logger: Logger;
  /** DNS for mailauth and DNSBL; default: config.dns's servers. */
  resolve?: PolicyResolver;
  /** Rate-limit counters; default: in memory. */
  store?: RateLimitStore;
  /** Clock of the default in-memory store. */
  now?: () => number;
  /** For DMARC pct sampling. */
  random?: () => number;
}

type DataCheck = AuthenticationCheck | RspamdCheck;

export function createInboundPolicy(config: Config, deps: InboundPolicyDeps): InboundPolicy {
  const { policy } = config;
  const logger = deps.logger.child({ component: "policy" });
  const resolve = deps.resolve ?? createPolicyResolver(config.dns);
  const store =
    deps.store ??
    createMemoryRateLimitStore({
      maxKeys: policy.rateLimits.maxKeys,
      ...(deps.now ? { now: deps.now } : {}),
    });
  const rateLimits = createRateLimitCheck(policy.rateLimits, store);
  const dnsbl: DnsblCheck | null =
    policy.dnsbl.zones.length > 0 ? createDnsblCheck({ zones: policy.dnsbl.zones, resolve, logger }) : null;
  const dataChecks: DataCheck[] = [];
  if (policy.authentication.enabled) {
    dataChecks.push(
      createAuthenticationCheck({
        config: policy.authentication,
        resolve,
        logger,
        ...(deps.random ? { random: deps.random } : {}),
      }),
    );
  }
  if (policy.rspamd !== null) dataChecks.push(createRspamdCheck({ config: policy.rspamd, logger }));
  /** DNSBL answers per session in rcpt mode (one lookup per session, not per recipient). */
  const listings = new Map<string, Promise<DnsblListing | null>>();

  /** Runs one check, turning a throw into "passed" (logged). */
  async function guarded<T>(what: string, fallback: T, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      logger.error({ err, check: what }, "policy check failed: treated as passed");
      return fallback;
    }
  }

  async function listed(session: SessionFacts): Promise<Reply | null> {
    if (dnsbl === null) return null;
    const address = plainIp(session.clientAddress);
    const key = session.id;
    let pending = listings.get(key);
    if (pending === undefined) {
      pending = guarded("dnsbl", null, () => dnsbl.lookup(address));
      listings.set(key, pending);
    }
    const listing = await pending;
    return listing === null ? null : dnsblReply(address, listing);
  }

  return {
    async onConnect(session) {
      const limited = await guarded("rate limits", null, () => rateLimits.onConnect(session));
      if (limited || policy.dnsbl.checkAt !== "connect") return limited;
      const reply = await listed(session);
      listings.delete(session.id);
      return reply;
    },
    async onMail(session, sender) {
      return guarded("rate limits", null, () => rateLimits.onMail(session, sender));
    },
    async onRcpt(session, sender, _recipient) {
      if (policy.dnsbl.checkAt === "rcpt" && session.user === null) {
        const reply = await listed(session);
        if (reply) return reply;
      }
      return guarded("rate limits", null, () => rateLimits.onRcpt(session, sender));
    },
    async onData(session, envelope, received) {
      const headers: string[] = [];
      // A check may rewrite the message (forged Authentication-Results out): the next sees that.
      let message = received;
      for (const check of dataChecks) {
        const verdict: DataVerdict = await guarded("data", { headers: [] }, () =>
          check.check(session, envelope, message),
        );
        if ("reply" in verdict) return verdict;
        headers.push(...verdict.headers);
        message = verdict.content ?? message;
      }
      return message === received ? { headers } : { headers, content: message };
    },
    onClose(session) {
      listings.delete(session.id);
      rateLimits.onClose(session).catch((err: unknown) => logger.error({ err }, "rate-limit release failed"));
    },
  };
}
