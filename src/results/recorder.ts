/**
 * The results stage: turns outcomes into durable state and visible records. Delivered
 * recipients are marked in the spool as soon as their job ends (a crash resends only the rest);
 * final failures get one DSN per attempt round, queued before the failures are marked. The
 * RFC 3461 notices that are not failures come from here too: a success report ("relayed") for
 * NOTIFY=SUCCESS recipients handed to a next hop without DSN, and the one delay warning of a
 * message that waits too long. Every DSN is queued through the spool like any message.
 */
import type { Logger } from "pino";
import { lastErrorOf } from "../feedback/classify-bounce.ts";
import type { FeedbackSink } from "../feedback/counters-events.ts";
import type { BounceClass, SuppressionList } from "../feedback/types.ts";
import type { RecipientOutcome, Reply } from "../message/types.ts";
import type { QueuedMessage, Spool } from "../spool/types.ts";
import type { DeliveryLog } from "./delivery-log.ts";
import { buildDsn, type DsnFailure } from "./dsn.ts";
import { formatReply } from "./reply-text.ts";
import type { DelayedRecipient, FinalFailure, ResultRecorder } from "./types.ts";

export interface RecorderDeps {
  spool: Spool;
  log: DeliveryLog;
  logger: Logger;
  /** Our hostname (Reporting-MTA) and the From: of DSNs, read per use so reloads apply. */
  identity: () => { hostname: string; bounceFrom: string };
  now?: () => number;
  /** Reputation counters and attribution (src/feedback/counters-events.ts). */
  feedback?: FeedbackSink;
  /** Bounce classification (src/feedback/classify-bounce.ts); absent: lines carry no class. */
  classify?: (reply: Reply) => BounceClass;
  /**
   * The instance's suppression list: a permanent failure classed invalid_recipient adds the
   * address for the message's tenant (reason hard_bounce). Absent: nothing is suppressed.
   */
  suppression?: SuppressionList;
}

/** Status of a success report (RFC 3464 "relayed"). */
const RELAYED_STATUS = "2.0.0";

export function createResultRecorder(deps: RecorderDeps): ResultRecorder {
  const now = deps.now ?? Date.now;
  const classOf = (reply: Reply): { bounceClass?: BounceClass } =>
    deps.classify ? { bounceClass: deps.classify(reply) } : {};

  /** Hard bounces (5xx, invalid recipient) join the tenant's suppression list; never fatal. */
  async function suppressHardBounces(
    message: QueuedMessage,
    failures: FinalFailure[],
    classes: (BounceClass | undefined)[],
  ) {
    if (deps.suppression === undefined || message.isBounce) return;
    for (const [i, f] of failures.entries()) {
      if (f.kind !== "bounced" || f.reply.code < 500 || classes[i] !== "invalid_recipient") continue;
      const address = message.recipients[f.index]!.address;
      try {
        await deps.suppression.add({
          tenant: message.tenant ?? null,
          address,
          reason: "hard_bounce",
          addedAt: now(),
          detail: formatReply(f.reply),
        });
      } catch (err) {
        deps.logger.error(
          { err, id: message.id, recipient: address },
          "could not add a hard bounce to the suppression list",
        );
      }
    }
  }

  const logIfDone = (message: QueuedMessage) => {
    if (message.recipients.every((r) => r.state !== "pending")) deps.log.removed({ id: message.id });
  };

  /**
   * Builds and stores one DSN about `entries` (buildDsn drops those whose NOTIFY does not ask);
   * logs it. Never for the null sender or about a notification.
   */
  async function queueDsn(
    message: QueuedMessage,
    entries: DsnFailure[],
    action: "failed" | "delayed" | "relayed",
    willRetryUntil?: number,
  ): Promise<QueuedMessage | null> {
    if (entries.length === 0 || message.sender === "" || message.isBounce) return null;
    const { hostname, bounceFrom } = deps.identity();
    const dsn = await buildDsn({
      original: message,
      originalBody: await deps.spool.readBody(message.id),
      failures: entries,
      reportingMta: hostname,
      from: bounceFrom,
      now: new Date(now()),
      ...(willRetryUntil !== undefined ? { willRetryUntil: new Date(willRetryUntil) } : {}),
    });
    if (!dsn) return null;
    const queued = await deps.spool.store(dsn.message, dsn.body);
    deps.log.received({
      id: queued.id,
      sender: "",
      recipients: dsn.message.recipients.length,
      size: dsn.body.length,
      client: "local",
    });
    deps.log.dsnQueued({ id: message.id, dsnId: queued.id, recipients: entries.length, action });
    return queued;
  }

  return {
    async jobFinished(message: QueuedMessage, outcomes: RecipientOutcome[], nextAttemptAt: number) {
      deps.feedback?.outcomes(message, outcomes);
      const delivered: number[] = [];
      const relayed: DsnFailure[] = [];
      for (const o of outcomes) {
        const recipient = message.recipients[o.recipientIndex]!;
        if (o.kind === "delivered") {
          delivered.push(o.recipientIndex);
          // RFC 3461 5.2.2: a next hop with DSN takes the duty over; one without leaves it to us.
          if (o.peerSupportsDsn === false && recipient.dsn.notify?.includes("SUCCESS")) {
            relayed.push({
              index: o.recipientIndex,
              action: "relayed",
              status: RELAYED_STATUS,
              reply: o.reply,
              remoteMta: o.relay.host,
            });
          }
          deps.log.delivered({
            id: message.id,
            recipient: recipient.address,
            relay: o.relay,
            reply: o.reply,
            delayMs: now() - message.arrivedAt,
          });
        } else if (o.kind === "deferred") {
          deps.log.deferred({
            id: message.id,
            recipient: recipient.address,
            relay: o.relay,
            reply: o.reply,
            scope: o.scope,
            ...classOf(o.reply),
            nextAttemptAt,
            ...(o.mayBeDuplicated ? { mayBeDuplicated: true } : {}),
          });
        }
        // Bounces are logged when the round ends, together with their DSN.
      }
      // Queued before the recipients are marked: a crash can repeat the report, never lose it.
      const queued = await queueDsn(message, relayed, "relayed");
      if (delivered.length > 0) {
        await deps.spool.markRecipients(
          message.id,
          delivered.map((index) => ({ index, state: "delivered" as const })),
        );
        for (const index of delivered) message.recipients[index]!.state = "delivered";
        logIfDone(message);
      }
      return queued;
    },

    async roundFinished(message: QueuedMessage, failures: FinalFailure[]) {
      // Bounces were counted with their outcome; expiries only show up here.
      deps.feedback?.expired(
        message,
        failures.filter((f) => f.kind === "expired"),
      );
      // An expiry is classed by the deferrals that led to it, not by its own 4.4.7.
      const classes = failures.map(
        (f) => classOf(f.kind === "expired" ? lastErrorOf(f.reply) : f.reply).bounceClass,
      );
      const withClass = (i: number) => (classes[i] === undefined ? {} : { bounceClass: classes[i] });
      const queued = await queueDsn(
        message,
        failures.map((f, i) => ({
          index: f.index,
          action: "failed" as const,
          status: f.kind === "expired" ? "4.4.7" : (f.reply.enhanced ?? "5.0.0"),
          reply: f.reply,
          remoteMta: f.remoteMta,
          ...withClass(i),
        })),
        "failed",
      );
      for (const [i, f] of failures.entries()) {
        const recipient = message.recipients[f.index]!.address;
        if (f.kind === "expired")
          deps.log.expired({ id: message.id, recipient, reply: f.reply, ...withClass(i) });
        else
          deps.log.bounced({
            id: message.id,
            recipient,
            relay: f.relay ?? null,
            reply: f.reply,
            scope: f.scope ?? "recipient",
            ...withClass(i),
          });
      }
      await suppressHardBounces(message, failures, classes);
      await deps.spool.markRecipients(
        message.id,
        failures.map((f) => ({
          index: f.index,
          state: f.kind === "bounced" ? ("bounced" as const) : ("expired" as const),
        })),
      );
      for (const f of failures) message.recipients[f.index]!.state = f.kind;
      logIfDone(message);
      return queued;
    },

    async delayWarning(message: QueuedMessage, delayed: DelayedRecipient[], willRetryUntil: number) {
      // Only an explicit NOTIFY=DELAY: without NOTIFY no warning is sent (Postfix's default,
      // delay_warning_time = 0), so ordinary senders are not told about every slow message.
      const asked = delayed.filter((d) => message.recipients[d.index]?.dsn.notify?.includes("DELAY"));
      return queueDsn(
        message,
        asked.map((d) => ({
          index: d.index,
          action: "delayed" as const,
          status: d.reply.enhanced?.startsWith("4.") ? d.reply.enhanced : "4.0.0",
          reply: d.reply,
          remoteMta: d.remoteMta,
          ...classOf(d.reply),
        })),
        "delayed",
        willRetryUntil,
      );
    },
  };
}
