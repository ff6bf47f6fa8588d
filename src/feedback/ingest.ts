/**
 * Report ingestion: mail to a feedback address (or any address of a bounce domain) is not
 * queued; it is parsed as an RFC 3464 DSN or an RFC 5965 ARF report, attributed to the original
 * message (queue id), tenant, source IP and transport through our VERP token (in the envelope
 * recipient, the returned headers, or anywhere in the report) and the attribution store, and
 * turned into counter events. Hard bounces (5.x.x of class invalid_recipient) and complaints add
 * the recipient to the tenant's suppression list. Every report's outcome is appended to
 * <feedback dir>/events.jsonl and fsync'd before `ingest` resolves, so the SMTP 250 (or the
 * import's answer) comes only after the event is durable.
 */
import { mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { IngestSummary } from "../api-types/feedback.ts";
import type { FeedbackConfig } from "../config/schema-feedback.ts";
import type { Reply } from "../message/types.ts";
import { parseArf } from "./arf.ts";
import { type AttributionStore, sendFor } from "./attribution.ts";
import type { Counters } from "./counters.ts";
import { providerOf } from "./counters-events.ts";
import { diagnosticReply, parseDsn } from "./dsn-parse.ts";
import { splitReport } from "./ingest-mime.ts";
import type { BounceClass, SuppressionList } from "./types.ts";
import { ANY_RECIPIENT, findToken, type VerpSettings, type VerpToken } from "./verp.ts";

export interface IngestorDeps {
  dir: string;
  config: () => FeedbackConfig;
  verp: VerpSettings | null;
  attribution: AttributionStore | null;
  counters: Counters;
  suppression: SuppressionList | null;
  classify: (reply: Reply) => BounceClass;
  logger: Logger;
  now?: () => number;
}

export interface Ingestor {
  /** True when every recipient is a feedback address: the message is a report, not mail. */
  claims(recipients: string[]): boolean;
  ingest(raw: Buffer, envelope: { sender: string; recipients: string[] } | null): Promise<IngestSummary>;
}

type Event = IngestSummary["events"][number];

export async function createIngestor(deps: IngestorDeps): Promise<Ingestor> {
  const now = deps.now ?? Date.now;
  await mkdir(deps.dir, { recursive: true });
  const eventsPath = join(deps.dir, "events.jsonl");
  let appending: Promise<void> = Promise.resolve();
  const appendDurably = (line: string) => {
    appending = appending.then(async () => {
      const fh = await open(eventsPath, "a");
      try {
        await fh.write(`${line}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
    return appending;
  };

  const isFeedbackAddress = (address: string) => {
    const { addresses, bounceDomains } = deps.config();
    const a = address.toLowerCase();
    return addresses.includes(a) || bounceDomains.includes(a.slice(a.lastIndexOf("@") + 1));
  };

  const locate = (texts: string[]): VerpToken | null => {
    if (!deps.verp) return null;
    for (const t of texts) {
      const token = findToken(deps.verp, t);
      if (token) return token;
    }
    return null;
  };

  /** Attribution of one recipient of the report. */
  const attribute = (token: VerpToken | null, recipient: string | null) => {
    const entry = token ? (deps.attribution?.get(token.queueId) ?? null) : null;
    let index = token && token.recipientIndex !== ANY_RECIPIENT ? token.recipientIndex : null;
    if (entry && index === null && recipient !== null) {
      for (const s of entry.sends) {
        const hit = s.recipients.find((r) => r.address.toLowerCase() === recipient);
        if (hit) index = hit.index;
      }
    }
    const send = entry ? sendFor(entry, index) : null;
    const address =
      recipient ??
      (index !== null ? (send?.recipients.find((r) => r.index === index)?.address ?? null) : null);
    return { entry, send, address: address?.toLowerCase() ?? null };
  };

  const suppress = async (
    tenant: string | null,
    address: string,
    reason: "hard_bounce" | "complaint",
    detail: string,
  ) => {
    if (!deps.suppression) return false;
    await deps.suppression.add({ tenant, address, reason, addedAt: now(), detail });
    return true;
  };

  return {
    claims(recipients) {
      return recipients.length > 0 && recipients.every(isFeedbackAddress);
    },

    async ingest(raw, envelope) {
      const report = await splitReport(raw);
      const rawText = raw.toString("utf8");
      const events: Event[] = [];
      let summary: IngestSummary;
      const dsn = parseDsn(report);
      const arf = dsn ? null : parseArf(report);
      if (dsn) {
        const token = locate([...(envelope?.recipients ?? []), dsn.returnedHeaders, rawText]);
        for (const r of dsn.recipients) {
          if (r.action !== "failed" && r.action !== "delayed") continue;
          const { entry, send, address } = attribute(token, r.finalRecipient ?? r.originalRecipient);
          const reply = diagnosticReply(r);
          const bounceClass = deps.classify(reply);
          const kind = r.action === "failed" ? "bounced" : "deferred";
          const tenant = entry?.tenant ?? null;
          const sourceIp = send?.sourceIp ?? null;
          deps.counters.record({
            kind,
            tenant,
            sourceIp,
            provider: send?.provider ?? providerOf(r.remoteMta, address),
            bounceClass,
            at: now(),
          });
          const hard = kind === "bounced" && r.status.startsWith("5") && bounceClass === "invalid_recipient";
          const detail = `${r.status} ${r.diagnostic}`.trim();
          const suppressed =
            hard && address !== null && (await suppress(tenant, address, "hard_bounce", detail));
          events.push({
            kind,
            recipient: address,
            queueId: token?.queueId ?? null,
            tenant,
            sourceIp,
            bounceClass,
            suppressed,
          });
        }
        summary = { kind: "dsn", events, ...(token ? {} : { note: "no VERP token of ours in the report" }) };
      } else if (arf) {
        const token = locate([...(envelope?.recipients ?? []), arf.returnedHeaders, rawText]);
        const { entry, send, address } = attribute(token, arf.originalRcptTo ?? null);
        const recipient = address ?? arf.returnedTo;
        const tenant = entry?.tenant ?? arf.returnedTenant;
        const sourceIp = send?.sourceIp ?? arf.sourceIp;
        if (arf.feedbackType !== "not-spam") {
          deps.counters.record({
            kind: "complaint",
            tenant,
            sourceIp,
            provider: send?.provider ?? providerOf(null, recipient),
            at: now(),
          });
        }
        const suppressed =
          arf.feedbackType !== "not-spam" &&
          recipient !== null &&
          (await suppress(
            tenant,
            recipient,
            "complaint",
            `feedback-type ${arf.feedbackType}${arf.userAgent ? ` from ${arf.userAgent}` : ""}`,
          ));
        events.push({
          kind: "complaint",
          recipient,
          queueId: token?.queueId ?? null,
          tenant,
          sourceIp,
          suppressed,
        });
        summary = { kind: "arf", events, ...(token ? {} : { note: "no VERP token of ours in the report" }) };
      } else {
        summary = { kind: "unknown", events, note: `not a DSN or ARF report (${report.contentType})` };
      }
      await appendDurably(JSON.stringify({ at: now(), from: envelope?.sender ?? null, ...summary }));
      await deps.counters.flush();
      deps.logger.info(
        { report: summary.kind, events: events.length, note: summary.note },
        "feedback report ingested",
      );
      return summary;
    },
  };
}
