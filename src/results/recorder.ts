/**
 * The results stage: turns outcomes into durable state and visible records. Delivered
 * recipients are marked in the spool as soon as their job ends (a crash resends only the rest);
 * final failures get one DSN per attempt round, queued before the failures are marked.
 */
import type { Logger } from "pino";
import type { RecipientOutcome } from "../message/types.ts";
import type { QueuedMessage, Spool } from "../spool/types.ts";
import type { DeliveryLog } from "./delivery-log.ts";
import { buildDsn } from "./dsn.ts";
import type { FinalFailure, ResultRecorder } from "./types.ts";

export interface RecorderDeps {
  spool: Spool;
  log: DeliveryLog;
  logger: Logger;
  /** Our hostname (Reporting-MTA) and the From: of DSNs, read per use so reloads apply. */
  identity: () => { hostname: string; bounceFrom: string };
  now?: () => number;
}

export function createResultRecorder(deps: RecorderDeps): ResultRecorder {
  const now = deps.now ?? Date.now;
  const logIfDone = (message: QueuedMessage) => {
    if (message.recipients.every((r) => r.state !== "pending")) deps.log.removed({ id: message.id });
  };

  return {
    async jobFinished(message: QueuedMessage, outcomes: RecipientOutcome[], nextAttemptAt: number) {
      const delivered: number[] = [];
      for (const o of outcomes) {
        const recipient = message.recipients[o.recipientIndex]!.address;
        if (o.kind === "delivered") {
          delivered.push(o.recipientIndex);
          deps.log.delivered({
            id: message.id,
            recipient,
            relay: o.relay,
            reply: o.reply,
            delayMs: now() - message.arrivedAt,
          });
        } else if (o.kind === "deferred") {
          deps.log.deferred({
            id: message.id,
            recipient,
            relay: o.relay,
            reply: o.reply,
            scope: o.scope,
            nextAttemptAt,
            ...(o.mayBeDuplicated ? { mayBeDuplicated: true } : {}),
          });
        }
        // Bounces are logged when the round ends, together with their DSN.
      }
      if (delivered.length > 0) {
        await deps.spool.markRecipients(
          message.id,
          delivered.map((index) => ({ index, state: "delivered" as const })),
        );
        for (const index of delivered) message.recipients[index]!.state = "delivered";
        logIfDone(message);
      }
    },

    async roundFinished(message: QueuedMessage, failures: FinalFailure[]) {
      const { hostname, bounceFrom } = deps.identity();
      let queued: QueuedMessage | null = null;
      if (failures.length > 0 && message.sender !== "" && !message.isBounce) {
        const originalBody = await deps.spool.readBody(message.id);
        const dsn = await buildDsn({
          original: message,
          originalBody,
          failures: failures.map((f) => ({
            index: f.index,
            action: "failed" as const,
            status: f.kind === "expired" ? "4.4.7" : (f.reply.enhanced ?? "5.0.0"),
            reply: f.reply,
            remoteMta: f.remoteMta,
          })),
          reportingMta: hostname,
          from: bounceFrom,
          now: new Date(now()),
        });
        if (dsn) {
          queued = await deps.spool.store(dsn.message, dsn.body);
          deps.log.received({
            id: queued.id,
            sender: "",
            recipients: dsn.message.recipients.length,
            size: dsn.body.length,
            client: "local",
          });
          deps.log.dsnQueued({ id: message.id, dsnId: queued.id, recipients: failures.length });
        }
      }
      for (const f of failures) {
        const recipient = message.recipients[f.index]!.address;
        if (f.kind === "expired") deps.log.expired({ id: message.id, recipient, reply: f.reply });
        else deps.log.bounced({ id: message.id, recipient, relay: null, reply: f.reply, scope: "recipient" });
      }
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
  };
}
