/**
 * The SiteConnector: opens an SMTP session to a destination site (MX hosts in order, each of
 * their addresses in turn, with the TLS policy's fallbacks) and hands back a SiteSession that
 * pushes messages through it, reusing the connection until it breaks or reaches the transport's
 * per-connection message limit. Every SMTP or network problem comes back as an outcome.
 * Each message is first fitted to what the peer announced (outbound-message.ts: SMTPUTF8,
 * 8BITMIME downgrade), once for all the transactions it may take on this connection, and then
 * DKIM-signed as those exact bytes (src/dkim) when the instance has signers.
 */
import type { Logger } from "pino";
import { signOutbound } from "../dkim/sign-outbound.ts";
import type { DkimSigner } from "../dkim/signer.ts";
import type { RecipientOutcome, RelayInfo, Reply } from "../message/types.ts";
import { peerFeatures, prepareOutbound } from "./outbound-message.ts";
import {
  type ConnectResult,
  type ConnectTarget,
  connectToAddress,
  peerName,
  speaksLmtp,
  type TlsMode,
} from "./smtp-connect.ts";
import { type JobRecipient, runTransaction, type TransactionContext } from "./smtp-transaction.ts";
import type { DeliveryJob, OpenResult, Pacing, Site, SiteConnector, SiteSession } from "./types.ts";

export interface SiteConnectorDeps {
  logger: Logger;
  /** VERP: the envelope sender of a transaction (null = the message's own). */
  returnPath?: (site: Site, relay: RelayInfo, job: DeliveryJob, recipients: JobRecipient[]) => string | null;
  now?: () => number;
  /** The instance's current DKIM signer (it changes on reload); absent or null: no signing. */
  dkim?: () => DkimSigner | null;
}

const TLS_MODE: Record<Site["transport"]["tls"], TlsMode> = {
  none: "plain",
  opportunistic: "opportunistic",
  required: "required",
};

/** Connects to one address, falling back to plaintext when opportunistic STARTTLS fails. */
async function connectWithPolicy(target: ConnectTarget, logger: Logger): Promise<ConnectResult> {
  const first = await connectToAddress(target);
  if (first.ok || !first.tlsFailed || target.tls !== "opportunistic") return first;
  logger.info({ peer: peerName(target), reply: first.reply }, "STARTTLS failed, retrying in plaintext");
  return connectToAddress({ ...target, tls: "plain" });
}

export function createSiteConnector(deps: SiteConnectorDeps): SiteConnector {
  const { logger } = deps;
  const now = deps.now ?? Date.now;

  return {
    async open(site) {
      const { transport } = site;
      let lastFailure: Reply | null = null;
      let lastScope: "destination" | "source" = "destination";
      let every5xx = true;
      for (const host of site.hosts) {
        for (const ip of host.addresses) {
          const target: ConnectTarget = {
            hostName: host.name,
            ip,
            port: site.port,
            transport,
            tls: TLS_MODE[transport.tls],
          };
          const started = now();
          const result = await connectWithPolicy(target, logger);
          if (result.ok) {
            logger.debug(
              { site: site.key, peer: peerName(target), ms: now() - started },
              "smtp session open",
            );
            const relay: RelayInfo = { host: host.name, ip, port: site.port, sourceIp: result.sourceIp };
            const ctx: TransactionContext = {
              conn: result.conn,
              internals: result.internals,
              relay,
              timeouts: transport.timeouts,
              peer: peerName(target),
              lmtp: speaksLmtp(transport),
              ...(deps.returnPath
                ? { returnPath: (job, rcpts) => deps.returnPath!(site, relay, job, rcpts) }
                : {}),
            };
            return {
              ok: true,
              session: createSession(ctx, transport.maxMessagesPerConnection, logger, deps.dkim),
            };
          }
          if (result.bindFailed) {
            // Every other host would fail the same way: report the source, not the site.
            return { ok: false, permanent: false, reply: result.reply, scope: "source", bindFailed: true };
          }
          logger.info({ site: site.key, peer: peerName(target), reply: result.reply }, "smtp connect failed");
          lastFailure = result.reply;
          every5xx &&= result.peer5xx;
          lastScope = result.scope;
        }
      }
      const reply = lastFailure ?? {
        code: 451,
        enhanced: "4.4.4",
        text: `no address to connect to for ${site.key}`,
      };
      return {
        ok: false,
        permanent: lastFailure !== null && every5xx,
        reply,
        scope: lastScope,
      } satisfies OpenResult;
    },
  };
}

/** Upper bound on extra transactions for 452-refused recipients of one message. */
const MAX_TRANSACTIONS_PER_MESSAGE = 20;

function createSession(
  ctx: TransactionContext,
  maxMessages: number,
  logger: Logger,
  dkim: SiteConnectorDeps["dkim"],
): SiteSession {
  let broken = false;
  let sent = 0;
  let needsReset = false;
  ctx.conn.once("end", () => {
    broken = true;
  });

  const isUsable = () => !broken && !ctx.internals.destroyed && sent < maxMessages;

  function unusableOutcomes(recipients: JobRecipient[], text: string): RecipientOutcome[] {
    const reply: Reply = { code: 451, enhanced: "4.4.2", text: `${text} (${ctx.peer})` };
    return recipients.map((r) => ({
      kind: "deferred",
      recipientIndex: r.index,
      reply,
      scope: "destination",
      relay: ctx.relay,
    }));
  }

  /** RSET between transactions; a failed or silent RSET retires the connection. */
  function reset(): Promise<boolean> {
    return new Promise((resolve) => {
      const guard = setTimeout(() => {
        ctx.conn.close();
        resolve(false);
      }, ctx.timeouts.commandMs + 1000);
      ctx.conn.reset((err) => {
        clearTimeout(guard);
        resolve(err === null || err === undefined);
      });
    });
  }

  return {
    get usable() {
      return isUsable();
    },

    async deliver(job: DeliveryJob, pacing?: Pacing) {
      if (!isUsable()) return unusableOutcomes(job.recipients, "connection no longer usable");
      sent++;
      let outbound = await prepareOutbound(job, peerFeatures(ctx.internals._supportedExtensions), ctx.peer);
      if (outbound.ok && outbound.downgradedParts > 0) {
        logger.info(
          { id: job.id, peer: ctx.peer, parts: outbound.downgradedParts },
          "peer lacks 8BITMIME: 8-bit MIME parts sent as quoted-printable",
        );
      }
      // Signed last, so the signature covers exactly the bytes that go out.
      const signer = dkim?.() ?? null;
      if (signer) outbound = await signOutbound(signer, job, outbound, logger);
      const final = new Map<number, RecipientOutcome>();
      let pending = job.recipients;
      await pacing?.beforeTransaction?.();
      for (let round = 0; pending.length > 0 && round < MAX_TRANSACTIONS_PER_MESSAGE; round++) {
        if (needsReset) {
          if (!(await reset())) {
            broken = true;
            ctx.conn.close();
            for (const o of unusableOutcomes(pending, "RSET failed")) final.set(o.recipientIndex, o);
            break;
          }
          needsReset = false;
        }
        const result = await runTransaction(ctx, job, pending, outbound);
        for (const o of result.outcomes) final.set(o.recipientIndex, o);
        needsReset = result.needsReset;
        if (result.broken) broken = true;
        // 452 "too many recipients": send the rest in a new transaction, as long as this one
        // made progress (otherwise they stay deferred with the 452 reply).
        const again = new Set(result.tooManyRecipients);
        if (again.size === 0 || result.acceptedCount === 0 || broken) break;
        logger.debug({ peer: ctx.peer, recipients: again.size }, "452 on RCPT, new transaction for the rest");
        pending = pending.filter((r) => again.has(r.index));
      }
      return job.recipients.map(
        (r) => final.get(r.index) ?? unusableOutcomes([r], "recipient not attempted")[0]!,
      );
    },

    async close() {
      if (ctx.internals.destroyed) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(guard);
          resolve();
        };
        const guard = setTimeout(() => {
          ctx.conn.removeListener("end", done);
          ctx.conn.close();
          resolve();
        }, ctx.timeouts.commandMs);
        ctx.conn.once("end", done);
        ctx.conn.quit();
      });
    },
  };
}
