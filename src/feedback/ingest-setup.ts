/**
 * Builds an instance's feedback parts from its config: the VERP secret (inline, from a file, or
 * generated once into <spool>/feedback/verp.key), the attribution store, the reputation
 * counters, the results-stage sink, the report ingestor and the MAIL FROM hook. Everything lives
 * under <spool>/feedback/ and has one writer: the instance that owns the spool.
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { IngestSummary, ReputationReport } from "../api-types/feedback.ts";
import type { FeedbackConfig } from "../config/schema-feedback.ts";
import type { Config } from "../config/types.ts";
import type { SiteConnectorDeps } from "../delivery/smtp-session.ts";
import type { Reply } from "../message/types.ts";
import { type AttributionStore, openAttributionStore } from "./attribution.ts";
import { type Counters, openCounters } from "./counters.ts";
import { createFeedbackSink, type FeedbackSink } from "./counters-events.ts";
import { createIngestor, type Ingestor } from "./ingest.ts";
import { type SendNotice, verpReturnPath } from "./return-path.ts";
import type { BounceClass, FeedbackEvent, SuppressionList } from "./types.ts";
import type { VerpSettings } from "./verp.ts";

export interface InstanceFeedback {
  sink: FeedbackSink;
  ingestor: Ingestor;
  /** For createSiteConnector; undefined when VERP is off. */
  returnPath: SiteConnectorDeps["returnPath"];
  /** VERP settings, for a delivery thread that builds its own returnPath; null when off. */
  verp: VerpSettings | null;
  /** Records a send a delivery thread noted (see return-path.ts). */
  noteSend(notice: SendNotice): void;
  reputation(filter: { ip?: string; tenant?: string; provider?: string }): ReputationReport;
  importReport(raw: Buffer): Promise<IngestSummary>;
  close(): Promise<void>;
}

const NO_FEEDBACK: FeedbackConfig = { verp: null, addresses: [], bounceDomains: [], bounceRules: null };

async function verpSecret(config: NonNullable<FeedbackConfig["verp"]>, dir: string): Promise<Buffer> {
  if (config.secret !== null) return Buffer.from(config.secret, "utf8");
  if (config.secretFile !== null)
    return Buffer.from((await readFile(config.secretFile, "utf8")).trim(), "utf8");
  const path = join(dir, "verp.key");
  try {
    return Buffer.from((await readFile(path, "utf8")).trim(), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const secret = randomBytes(32).toString("hex");
  await writeFile(path, `${secret}\n`, { mode: 0o600, flag: "wx" });
  return Buffer.from(secret, "utf8");
}

export async function openInstanceFeedback(deps: {
  config: () => Config;
  name: string;
  logger: Logger;
  classify: (reply: Reply) => BounceClass;
  suppression: SuppressionList | null;
  now?: () => number;
  /** Told of every counter event once it is counted (automatic isolation checks its tenant). */
  onRecord?: (event: FeedbackEvent) => void;
}): Promise<InstanceFeedback> {
  const first = deps.config();
  const dir = join(first.spoolDir, "feedback");
  const feedbackConfig = () => deps.config().feedback ?? NO_FEEDBACK;
  const counters: Counters = withRecordHook(
    await openCounters({ dir, ...(deps.now ? { now: deps.now } : {}) }),
    deps.onRecord,
  );
  const attribution: AttributionStore = await openAttributionStore({
    dir,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const verpConfig = feedbackConfig().verp;
  const verp: VerpSettings | null = verpConfig
    ? {
        domain: verpConfig.domain,
        localPart: verpConfig.localPart,
        secret: await verpSecret(verpConfig, dir),
      }
    : null;
  const now = deps.now ?? Date.now;
  const ingestor = await createIngestor({
    dir,
    config: feedbackConfig,
    verp,
    attribution,
    counters,
    suppression: deps.suppression,
    classify: deps.classify,
    logger: deps.logger,
    now,
  });
  const noteSend = (notice: SendNotice) => {
    const { queueId, sender, ...send } = notice;
    attribution.recordSend(queueId, sender, { ...send, at: now() });
  };
  return {
    sink: createFeedbackSink({ counters, attribution, classify: deps.classify, now }),
    ingestor,
    verp,
    noteSend,
    returnPath: verp ? verpReturnPath(verp, noteSend) : undefined,
    reputation: (filter) => ({ instance: deps.name, ...counters.report(filter) }),
    importReport: (raw) => ingestor.ingest(raw, null),
    async close() {
      await counters.close();
      await attribution.close();
    },
  };
}

function withRecordHook(
  counters: Counters,
  onRecord: ((event: FeedbackEvent) => void) | undefined,
): Counters {
  if (!onRecord) return counters;
  return {
    ...counters,
    record(event) {
      counters.record(event);
      onRecord(event);
    },
  };
}
