/**
 * Composition root of one instance: builds spool, scheduler, delivery, results, SMTP listener
 * and admin API from a config, wires them along the one-way data path, and owns start/stop.
 * Nothing here is global, so several instances (or tests) can live in one process.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import { type AdminServer, startAdminServer } from "../admin-api/server.ts";
import { sourcesListing } from "../admin-api/sources-view.ts";
import type { AdminEndpoint } from "../api-types/queue.ts";
import { keepRestartOnly, restartOnlyChanges } from "../config/restart-only.ts";
import type { Config, DkimConfig } from "../config/types.ts";
import { createDnsResolver } from "../delivery/dns-resolver.ts";
import { createDestinationResolver } from "../delivery/mx-resolver.ts";
import { createSourceSelector } from "../delivery/pool.ts";
import { createSiteConnector } from "../delivery/smtp-session.ts";
import { createThreadConnector } from "../delivery/thread-connector.ts";
import { verpForThread } from "../delivery/thread-protocol.ts";
import { createDkimSigner, type DkimSigner } from "../dkim/signer.ts";
import { loadBounceRulesFile } from "../feedback/classify-bounce.ts";
import { type InstanceFeedback, openInstanceFeedback } from "../feedback/ingest-setup.ts";
import { type FileSuppressionList, openSuppressionList, SUPPRESSION_FILE } from "../feedback/suppression.ts";
import { checkMessageAtInjection, checkRecipientAtRcpt } from "../feedback/suppression-gate.ts";
import type { FeedbackEvent } from "../feedback/types.ts";
import type { NewMessage, Reply } from "../message/types.ts";
import { createInboundPolicy } from "../policy/inbound-policy.ts";
import { createInstanceBackoff } from "../reputation/backoff-setup.ts";
import { openInstanceIsolation } from "../reputation/isolation-setup.ts";
import { openInstanceWarmup } from "../reputation/warmup.ts";
import { createDeliveryLog } from "../results/delivery-log.ts";
import { createResultRecorder } from "../results/recorder.ts";
import type { ResultRecorder } from "../results/types.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { createListener } from "../smtp-server/listener.ts";
import type { AcceptResult, Receiver } from "../smtp-server/types.ts";
import { createQueueIdGenerator } from "../spool/queue-id.ts";
import { createSpool } from "../spool/spool.ts";
import { type QueuedMessage, SpoolError } from "../spool/types.ts";
import { createInstanceClock, type InstanceClock } from "./clock.ts";
import { queueHandlers } from "./queue-view.ts";

export interface InstanceOptions {
  config: Config;
  logger: Logger;
  /** Where delivery-log lines go (one complete line per call, ending in a newline). */
  writeDeliveryLog: (line: string) => void;
  name?: string;
  /** Policy time (warm-up days, backoff, reputation windows); real time unless a test sets one. */
  clock?: InstanceClock;
}

export interface RunningInstance {
  listeners: { host: string; port: number }[];
  admin: AdminEndpoint | null;
  scheduler: Scheduler;
  /**
   * Applies a new config to what can change live: routes, transports (with their limits, retry
   * schedule and lifetime), sources, pools and bounce settings. Queued and deferred mail is
   * re-routed at its next attempt. Returns the changed settings that need a restart (listeners
   * and their limits, spool, DNS, log, admin API, inbound policy), which keep their running
   * values.
   */
  reload(next: Config): string[];
  stop(): Promise<void>;
}

const LOW_DISK: Reply = { code: 452, enhanced: "4.3.1", text: "Insufficient system storage" };
const WRITE_FAILED: Reply = { code: 451, enhanced: "4.3.0", text: "Error: queue file write error" };

export async function startInstance(options: InstanceOptions): Promise<RunningInstance> {
  // Read through getters downstream, so a reload only has to swap this binding.
  let config = options.config;
  const name = options.name ?? config.instance.name;
  // Every instance of a fleet writes to the same stderr: each line says whose it is.
  const logger = options.logger.child({ instance: name });
  const clock = options.clock ?? createInstanceClock();
  // Key files are read here: a missing or bad key stops the start with the file's name.
  let dkim = instanceDkimSigner(config);
  // Adaptive backoff (src/reputation/backoff.ts): per source IP x site, on the instance clock.
  // Its rules file is read here, so a bad one stops the start before the spool is opened.
  const backoff = createInstanceBackoff({
    config,
    clock,
    logger,
    instance: name,
    writeDeliveryLog: options.writeDeliveryLog,
  });
  const spool = createSpool({ dir: config.spoolDir, logger });
  // The spool's lock comes first: the files beside it (suppression, feedback) have one writer,
  // the process holding the lock. Accept mail at once: the spool replays its old segments in
  // the background and hands the recovered queue over in batches (mailq shows a partial queue
  // meanwhile); batches that arrive before the scheduler exists wait here.
  const recoveredEarly: QueuedMessage[] = [];
  let enqueueRecovered: ((message: QueuedMessage) => void) | null = null;
  await spool.open({
    onRecovered: (batch) => {
      for (const message of batch) {
        if (enqueueRecovered) enqueueRecovered(message);
        else recoveredEarly.push(message);
      }
    },
  });
  // Feedback (src/feedback): suppression, VERP, attribution, counters, report ingestion.
  let counted: (tenant: string | null) => void = () => {};
  const { suppression, rules, feedback } = await openFeedbackParts(
    config,
    name,
    logger,
    () => config,
    () => clock.now(),
    (event) => counted(event.tenant),
  ).catch(async (err: unknown) => {
    await spool.close();
    throw err;
  });
  // Automatic isolation of tenants (src/reputation/isolation.ts), fed by the counters.
  const isolation = await openInstanceIsolation({
    config: () => config,
    instance: name,
    clock,
    logger,
    writeDeliveryLog: options.writeDeliveryLog,
    reputation: (filter) => feedback.reputation(filter),
  }).catch(async (err: unknown) => {
    await feedback.close();
    await spool.close();
    throw err;
  });
  counted = (tenant) => isolation.noteEvent(tenant);

  const log = createDeliveryLog({
    format: config.log.format,
    write: options.writeDeliveryLog,
    instance: name,
  });
  const sources = createSourceSelector({ config: () => config, logger });
  // IP warm-up caps (src/reputation/warmup.ts): counters beside the spool, days on `clock`.
  const warmup = openInstanceWarmup(
    config.spoolDir,
    () => config,
    () => clock.now(),
  );
  const results = createResultRecorder({
    spool,
    log,
    logger,
    identity: () => ({ hostname: config.hostname, bounceFrom: config.bounce.from }),
    feedback: feedback.sink,
    classify: (reply) => rules.classifier.classify(reply),
    suppression,
  });
  // Outbound SMTP sessions run in delivery threads (another core) unless `delivery.threads` is 0.
  const threadConnector =
    config.delivery.threads > 0
      ? createThreadConnector({
          threads: config.delivery.threads,
          settings: {
            logLevel: config.log.level,
            logBindings: logger.bindings(),
            dkim: signingConfig(config),
            verp: verpForThread(feedback.verp),
          },
          logger,
          noteSend: (notice) => feedback.noteSend(notice),
        })
      : null;
  const scheduler = new Scheduler({
    config: () => config,
    spool,
    sources,
    warmup: warmup.warmup,
    resolver: createDestinationResolver({
      dns: createDnsResolver(config.dns),
      allowPrivateDestinations: config.delivery.allowPrivateDestinations,
      logger,
    }),
    connector:
      threadConnector ??
      createSiteConnector({
        logger,
        dkim: () => dkim,
        ...(feedback.returnPath ? { returnPath: feedback.returnPath } : {}),
      }),
    results,
    logger,
    backoff,
    isolation: (tenant) => isolation.routing(tenant),
  });
  // The scheduler exists now: hand it what recovery found so far, and the rest as it comes.
  enqueueRecovered = (message) => scheduler.enqueue(message);
  for (const message of recoveredEarly.splice(0)) scheduler.enqueue(message);
  spool.whenRecovered().then(
    (recovered) => {
      for (const q of recovered.quarantined) logger.error(q, "unreadable spool entry quarantined");
      logger.info({ messages: recovered.messages, spool: config.spoolDir }, "queue recovered");
      // Replaying a large spool leaves as much garbage as it read, and V8 shrinks its heap only
      // slowly: one full collection now hands that memory back at once. `gc` is there when the
      // supervisor started this process with --expose-gc.
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc !== undefined && recovered.messages > 0) gc();
    },
    (err: unknown) => logger.error({ err, spool: config.spoolDir }, "queue recovery failed"),
  );

  const receiver = createReceiver({
    spool,
    feedback,
    suppression,
    results,
    scheduler,
    log,
    minFreeBytes: () => config.limits.minFreeDiskBytes,
    logger,
  });
  const listener = createListener({
    config,
    receiver,
    logger,
    recipientCheck: (facts) => checkRecipientAtRcpt(config.tenants, suppression, facts),
    policy: createInboundPolicy(config, { logger }),
  });
  scheduler.start();
  let admin: AdminServer | null = null;
  let listeners: { host: string; port: number }[] = [];
  try {
    listeners = await listener.start();
    if (config.admin.listen) {
      admin = await startAdminServer({
        listen: config.admin.listen,
        spoolDir: config.spoolDir,
        handlers: {
          ...queueHandlers(name, scheduler, logger),
          sources: () => sourcesListing(sources.health()),
          reputation: (filter) => ({ ...feedback.reputation(filter), isolation: isolation.view() }),
          isolation,
          warmup: () => warmup.warmup.report(name),
          feedbackImport: (raw) => feedback.importReport(raw),
          suppression: { instance: name, list: suppression },
          backoff: () => backoff.list(),
          ...(clock.advance ? { advanceClock: clock.advance } : {}),
        },
        logger,
      });
    }
  } catch (err) {
    await listener.stop().catch(() => {});
    await scheduler.stop();
    await threadConnector?.close();
    await spool.close();
    await feedback.close();
    await suppression.close();
    throw err;
  }
  logger.info({ listeners, admin: admin?.endpoint.url }, "instance started");

  return {
    listeners,
    admin: admin?.endpoint ?? null,
    scheduler,
    reload(next: Config) {
      const needRestart = restartOnlyChanges(config, next);
      config = keepRestartOnly(config, next);
      try {
        dkim = instanceDkimSigner(config);
        threadConnector?.setDkim(signingConfig(config));
      } catch (err) {
        logger.error({ err }, "DKIM keys not reloaded: keeping the keys loaded before");
      }
      // The TLS certificate and the users file are re-read live (same or new paths).
      listener.reload(next).catch((err: unknown) => {
        logger.error({ err }, "listener reload failed: keeping the TLS certificate and logins loaded before");
      });
      logger.info({ source: next.source, needRestart }, "configuration reloaded");
      return needRestart;
    },
    async stop() {
      await listener.stop();
      await admin?.close();
      await scheduler.stop();
      await threadConnector?.close();
      await spool.close();
      await feedback.close();
      await suppression.close();
      warmup.close();
      isolation.close();
      logger.info("instance stopped");
    },
  };
}

function createReceiver(deps: {
  spool: ReturnType<typeof createSpool>;
  feedback: InstanceFeedback;
  suppression: FileSuppressionList;
  results: ResultRecorder;
  scheduler: Scheduler;
  log: ReturnType<typeof createDeliveryLog>;
  minFreeBytes: () => number;
  logger: Logger;
}): Receiver {
  // statfs per MAIL would be a syscall per transaction; a one-second-old answer is plenty.
  /** The id a 250 names for an ingested report (queue-id shaped, never queued). */
  const reportId = createQueueIdGenerator();
  let freeCheckedAt = 0;
  let lowDisk = false;
  return {
    async checkCapacity() {
      const now = Date.now();
      if (now - freeCheckedAt > 1000) {
        freeCheckedAt = now;
        lowDisk = (await deps.spool.freeBytes()) < deps.minFreeBytes();
        if (lowDisk)
          deps.logger.warn("spool file system below min_free_disk: refusing new mail with 452 4.3.1");
      }
      return lowDisk ? LOW_DISK : null;
    },
    async accept(message: NewMessage, body: Buffer): Promise<AcceptResult> {
      const recipients = message.recipients.map((r) => r.address);
      if (deps.feedback.ingestor.claims(recipients)) {
        // A DSN or feedback-loop report for us: recorded durably, never queued (src/feedback).
        try {
          await deps.feedback.ingestor.ingest(body, { sender: message.sender, recipients });
          return { ok: true, id: reportId() };
        } catch (err) {
          deps.logger.error({ err }, "feedback report not recorded: answering 451 4.3.0");
          return { ok: false, reply: WRITE_FAILED };
        }
      }
      // Suppressed recipients (src/feedback/suppression-gate.ts): all of them -> refused here.
      const gate = checkMessageAtInjection(deps.suppression, message);
      if (gate.kind === "refuse") return { ok: false, reply: gate.reply };
      try {
        const stored = await deps.spool.store(message, body);
        deps.log.received({
          id: stored.id,
          sender: message.sender,
          recipients: message.recipients.length,
          size: body.length,
          client: message.clientAddress,
        });
        if (gate.suppressed.length > 0) {
          // Bounced before any attempt, like a routing failure: logged, DSN'd, marked.
          const failures = gate.suppressed.map((s) => ({
            index: s.index,
            kind: "bounced" as const,
            reply: s.reply,
            remoteMta: null,
          }));
          const dsn = await deps.results.roundFinished(stored, failures);
          if (dsn !== null) deps.scheduler.enqueue(dsn);
        }
        deps.scheduler.enqueue(stored);
        return { ok: true, id: stored.id };
      } catch (err) {
        if (err instanceof SpoolError) {
          deps.logger.error({ err }, "spool write failed: answering 451 4.3.0");
          return { ok: false, reply: WRITE_FAILED };
        }
        throw err;
      }
    },
  };
}

/** Only delivering roles sign; the others hand their mail on unsigned. */
function instanceDkimSigner(config: Config): DkimSigner | null {
  const signing = signingConfig(config);
  return signing ? createDkimSigner(signing) : null;
}

function signingConfig(config: Config): DkimConfig | null {
  const { role } = config.instance;
  return role === "output" || role === "all" ? config.dkim : null;
}

/** The bounce rules, suppression list and feedback stores kept beside an instance's spool. */
async function openFeedbackParts(
  first: Config,
  name: string,
  logger: Logger,
  config: () => Config,
  now: () => number,
  onRecord: (event: FeedbackEvent) => void,
) {
  const rules = loadBounceRulesFile(first.feedback?.bounceRules ?? undefined);
  if (!rules.ok) throw new Error(rules.errors.join("\n"));
  const suppression = await openSuppressionList(join(first.spoolDir, SUPPRESSION_FILE));
  const feedback = await openInstanceFeedback({
    config,
    name,
    logger,
    classify: (reply) => rules.classifier.classify(reply),
    suppression,
    now,
    onRecord,
  });
  return { rules, suppression, feedback };
}
