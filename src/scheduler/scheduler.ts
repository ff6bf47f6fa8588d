/**
 * The scheduler decides *when* and *where*: it keeps deferred mail in a due-time queue, and when a
 * message falls due it routes each pending recipient (pure routing, so config reloads apply to
 * queued mail; MX host names are looked up first when a route matches on them), resolves the
 * destination site, picks the source IP from the transport's pool, and hands one job per site to
 * the ready queue of that site x source. A source that cannot be bound moves its job to another
 * source once. When every job of the attempt is back it applies the retry schedule or expiry
 * (each recipient's own transport's max_queue_lifetime), decides
 * when a message has waited long enough for its one delay warning (bounce.delay_warning_after),
 * and passes the results on. It never speaks SMTP and never writes the spool itself; DSNs the
 * results stage queues come back here to be scheduled like any message. Operator actions (hold,
 * release, delete, requeue, flush) live in queue-ops.ts; held messages never enter the due queue.
 */
import type { Logger } from "pino";
import type { Config, TransportConfig } from "../config/types.ts";
import { createSourceSelector, type SourcePick, type SourceSelector } from "../delivery/pool.ts";
import {
  type DeliveryJob,
  type DestinationResolver,
  type Site,
  type SiteConnector,
  sourceSiteKey,
} from "../delivery/types.ts";
import type { QueueId, RecipientOutcome } from "../message/types.ts";
import type { BackoffGate } from "../reputation/backoff.ts";
import type { IsolationRouting } from "../reputation/isolation.ts";
import type { SiteWarmup, Warmup } from "../reputation/warmup.ts";
import type { DelayedRecipient, FinalFailure, ResultRecorder } from "../results/types.ts";
import type { DeferralInfo, QueuedMessage, Spool } from "../spool/types.ts";
import { DueQueue } from "./due-queue.ts";
import { type QueueOpResult, QueueOps, type Selection } from "./queue-ops.ts";
import { isExpired, retryDelay } from "./retry.ts";
import { type RoundRecipient, routeRound } from "./round-routing.ts";
import { type Clock, failJob, failureOutcome, type QueueResult, SiteQueue } from "./site-queue.ts";

export interface SchedulerDeps {
  /** A getter, so a reloaded config applies to the next activation. */
  config: () => Config;
  spool: Spool;
  resolver: DestinationResolver;
  connector: SiteConnector;
  results: ResultRecorder;
  logger: Logger;
  /** Source IP selection and health; by default one reading `config` (pools as configured). */
  sources?: SourceSelector;
  clock?: Clock;
  /** Messages in delivery at once; the rest wait in the due queue (bounds memory). */
  maxActive?: number;
  /** Adaptive backoff per source IP x site (src/reputation/backoff.ts); none by default. */
  backoff?: BackoffGate;
  /** IP warm-up caps (src/reputation/warmup.ts); none by default. */
  warmup?: Warmup;
  /** Automatic isolation of tenants (src/reputation/isolation.ts); none by default. */
  isolation?: (tenant: string | null) => IsolationRouting | null;
}

export interface QueueEntry {
  message: QueuedMessage;
  active: boolean;
}

export class Scheduler {
  readonly #deps: SchedulerDeps;
  readonly #clock: Clock;
  readonly #maxActive: number;
  readonly #messages = new Map<QueueId, QueuedMessage>();
  readonly #active = new Set<QueueId>();
  readonly #due = new DueQueue();
  readonly #sources: SourceSelector;
  /** Ready queues keyed by site (transport x MX set) x source address. */
  readonly #sites = new Map<string, SiteQueue>();
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #pumpQueued = false;
  #running = false;
  #roundsInFlight = new Set<Promise<void>>();
  #sitesSweptAt = 0;
  readonly #ops: QueueOps;
  /** Recipients deferred by a warm-up cap this round, and when the next UTC day starts. */
  readonly #warmupWaits = new Map<QueueId, { until: number; indexes: Set<number> }>();

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? { now: () => Date.now() };
    this.#maxActive = deps.maxActive ?? 5000;
    this.#sources =
      deps.sources ??
      createSourceSelector({ config: deps.config, logger: deps.logger, now: () => this.#clock.now() });
    this.#ops = new QueueOps({
      messages: this.#messages,
      spool: deps.spool,
      logger: deps.logger,
      now: () => this.#clock.now(),
      isActive: (id) => this.#active.has(id),
      schedule: (id, at) => {
        this.#due.schedule(id, at);
        this.#wake(at);
      },
      unschedule: (id) => this.#due.remove(id),
      forget: (id) => {
        this.#due.remove(id);
        this.#messages.delete(id);
      },
    });
  }

  get size(): number {
    return this.#messages.size;
  }

  /** Adds a stored message; due now unless it carries a later retry time or is held. */
  enqueue(message: QueuedMessage): void {
    this.#messages.set(message.id, message);
    if (message.held) return;
    const dueAt = message.deferral?.nextAttemptAt ?? this.#clock.now();
    this.#due.schedule(message.id, dueAt);
    this.#wake(dueAt);
  }

  start(): void {
    this.#running = true;
    this.#wake(this.#clock.now());
  }

  /** Stops activations and fails queued jobs as deferred; waits for rounds already in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const site of this.#sites.values()) site.stop();
    await Promise.allSettled([...this.#roundsInFlight]);
  }

  /** Operator actions (see queue-ops.ts): durable hold/release/delete, requeue and flush. */
  hold(selection: Selection): Promise<QueueOpResult> {
    return this.#ops.hold(selection);
  }

  release(selection: Selection): Promise<QueueOpResult> {
    return this.#ops.release(selection);
  }

  delete(selection: Selection): Promise<QueueOpResult> {
    return this.#ops.delete(selection);
  }

  requeue(selection: Selection): Promise<QueueOpResult> {
    return this.#ops.requeue(selection);
  }

  /** Makes the selected (by default every) message that is not held due now (mailq --flush). */
  flush(selection: Selection = { all: true }): Promise<QueueOpResult> {
    return this.#ops.flush(selection);
  }

  entries(): QueueEntry[] {
    return [...this.#messages.values()].map((message) => ({ message, active: this.#active.has(message.id) }));
  }

  siteStats(): { key: string; source: string | null; connections: number; queued: number }[] {
    return [...this.#sites.values()].map((s) => ({
      key: s.site.key,
      source: s.source,
      connections: s.connections,
      queued: s.queued,
    }));
  }

  #wake(at: number): void {
    if (!this.#running) return;
    const now = this.#clock.now();
    if (at <= now) {
      if (!this.#pumpQueued) {
        this.#pumpQueued = true;
        setImmediate(() => {
          this.#pumpQueued = false;
          this.#pump();
        });
      }
      return;
    }
    if (at >= this.#timerAt && this.#timer) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#pump();
      },
      Math.min(at - now, 2 ** 31 - 1),
    );
  }

  #pump(): void {
    if (!this.#running) return;
    this.#dropIdleSites();
    const room = this.#maxActive - this.#active.size;
    const ids = room > 0 ? this.#due.takeDue(this.#clock.now(), room) : [];
    for (const id of ids) {
      const message = this.#messages.get(id);
      if (!message || message.held) continue;
      this.#active.add(id);
      const round = this.#runRound(message)
        .catch((err: unknown) => {
          // A bug, not an SMTP result: keep the message and retry later rather than lose it.
          this.#deps.logger.error({ err, id }, "attempt failed unexpectedly; retrying later");
          this.#due.schedule(id, this.#clock.now() + 60_000);
        })
        // Holds, deletes and requeues asked for during the attempt apply now.
        .then(() => this.#ops.afterRound(message))
        .catch((err: unknown) => this.#deps.logger.error({ err, id }, "queue action after attempt failed"))
        .finally(() => {
          this.#active.delete(id);
          this.#roundsInFlight.delete(round);
          const next = this.#due.nextDueAt();
          if (next !== null) this.#wake(next);
        });
      this.#roundsInFlight.add(round);
    }
    const next = this.#due.nextDueAt();
    if (next !== null && this.#active.size < this.#maxActive) this.#wake(next);
  }

  /** One attempt at every pending recipient of a message. */
  async #runRound(message: QueuedMessage): Promise<void> {
    const config = this.#deps.config();
    const now = this.#clock.now();
    const pending = message.recipients.flatMap((r, index) => (r.state === "pending" ? [index] : []));
    const { round, outcomes, groups } = await routeRound({
      config,
      resolver: this.#deps.resolver,
      logger: this.#deps.logger,
      message,
      pending,
      ...(this.#deps.isolation ? { isolation: this.#deps.isolation } : {}),
    });
    // Resolve each group to a site; recipients on the same site travel in one transaction.
    const bySite = new Map<string, { site: Site; indexes: number[] }>();
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const resolution = await this.#deps.resolver.resolve(group.domain, group.transport);
        if (resolution.kind === "failure") {
          for (const index of group.indexes) outcomes.push(failureOutcome(index, resolution));
          return;
        }
        const entry = bySite.get(resolution.site.key) ?? { site: resolution.site, indexes: [] };
        entry.indexes.push(...group.indexes);
        bySite.set(resolution.site.key, entry);
      }),
    );
    const nextAttemptAt =
      now + retryDelay(firstTransport(round)?.retryScheduleMs ?? [], attemptsSoFar(message) + 1);
    if (outcomes.length > 0)
      this.#enqueueDsn(await this.#deps.results.jobFinished(message, outcomes, nextAttemptAt));
    if (bySite.size > 0) {
      const body = await this.#deps.spool.readBody(message.id);
      await Promise.all(
        [...bySite.values()].map(async ({ site, indexes }) => {
          const job = makeJob(message, indexes, body);
          const jobOutcomes = this.#running
            ? await this.#deliverToSite(site, job)
            : failJob(job, {
                permanent: false,
                reply: { code: 451, enhanced: "4.3.2", text: "delivery stopped" },
                scope: "message",
              });
          outcomes.push(...jobOutcomes);
          this.#enqueueDsn(await this.#deps.results.jobFinished(message, jobOutcomes, nextAttemptAt));
        }),
      );
    }
    await this.#finishRound(message, round, outcomes, nextAttemptAt);
  }

  async #finishRound(
    message: QueuedMessage,
    round: RoundRecipient[],
    outcomes: RecipientOutcome[],
    nextAttemptAt: number,
  ): Promise<void> {
    const now = this.#clock.now();
    const failures: FinalFailure[] = [];
    const reasons: Record<number, string> = {};
    const delayed: DelayedRecipient[] = [];
    let retryUntil = 0;
    let stillPending = false;
    for (const outcome of outcomes) {
      const index = outcome.recipientIndex;
      // Delivered recipients were recorded (and their state set) by results.jobFinished.
      if (outcome.kind === "delivered") continue;
      const remoteMta = outcome.relay?.host ?? null;
      if (outcome.kind === "bounced") {
        failures.push({
          index,
          kind: "bounced",
          reply: outcome.reply,
          remoteMta,
          scope: outcome.scope,
          relay: outcome.relay,
        });
        continue;
      }
      const transport = round.find((r) => r.index === index)?.transport;
      const lifetime = transport?.maxQueueLifetimeMs ?? 5 * 86_400_000;
      if (isExpired(message.arrivedAt, now, lifetime)) {
        failures.push({
          index,
          kind: "expired",
          reply: {
            code: 451,
            enhanced: "4.4.7",
            text: `delivery time expired; last error: ${outcome.reply.code} ${outcome.reply.text}`,
          },
          remoteMta,
        });
        continue;
      }
      stillPending = true;
      delayed.push({ index, reply: outcome.reply, remoteMta });
      retryUntil = Math.max(retryUntil, message.arrivedAt + lifetime);
      reasons[index] = `${outcome.reply.code} ${outcome.reply.enhanced ?? ""} ${outcome.reply.text}`.replace(
        / +/g,
        " ",
      );
    }
    if (failures.length > 0) {
      // roundFinished records the failures durably and sets their states.
      this.#enqueueDsn(await this.#deps.results.roundFinished(message, failures));
    }
    // Recipients that only wait for a warm-up cap retry when the next UTC day starts.
    const warmupWait = this.#warmupWaits.get(message.id);
    this.#warmupWaits.delete(message.id);
    const retryAt =
      warmupWait && delayed.every((d) => warmupWait.indexes.has(d.index))
        ? Math.max(nextAttemptAt, warmupWait.until)
        : nextAttemptAt;
    if (stillPending) {
      const delayWarned = await this.#warnIfLate(message, delayed, retryUntil, now);
      const deferral: DeferralInfo = {
        attempts: attemptsSoFar(message) + 1,
        nextAttemptAt: retryAt,
        reasons,
        ...(delayWarned ? { delayWarned: true } : {}),
      };
      message.deferral = deferral;
      this.#deps.spool.recordDeferral(message.id, deferral);
      this.#due.schedule(message.id, retryAt);
    } else if (message.recipients.every((r) => r.state !== "pending")) {
      this.#messages.delete(message.id);
    } else {
      // Recipients that got no outcome (cannot happen unless a job was lost): retry them.
      this.#due.schedule(message.id, nextAttemptAt);
    }
  }

  /**
   * Sends a message's one delay warning once it has waited bounce.delay_warning_after (0 = never).
   * Returns whether the warning is now behind us, to be remembered in the deferral record so a
   * restart does not repeat it (best effort: a crash before that record is written may).
   */
  async #warnIfLate(
    message: QueuedMessage,
    delayed: DelayedRecipient[],
    retryUntil: number,
    now: number,
  ): Promise<boolean> {
    if (message.deferral?.delayWarned === true) return true;
    const after = this.#deps.config().bounce.delayWarningAfterMs;
    if (after <= 0 || now - message.arrivedAt < after) return false;
    this.#enqueueDsn(await this.#deps.results.delayWarning(message, delayed, retryUntil));
    return true;
  }

  #enqueueDsn(dsn: QueuedMessage | null): void {
    if (dsn) this.enqueue(dsn);
  }

  /** Forgets sites with nothing queued or connected (at most every 10 s; O(sites)). */
  #dropIdleSites(): void {
    const now = this.#clock.now();
    if (now - this.#sitesSweptAt < 10_000) return;
    this.#sitesSweptAt = now;
    for (const [key, queue] of this.#sites) if (queue.isIdle) this.#sites.delete(key);
  }

  /**
   * Delivers a job through the ready queue of its site x a source picked now. When that source
   * cannot be bound, the selector has just marked it unhealthy, so a second pick lands on
   * another member of the pool (if there is one): the job goes there, once.
   */
  async #deliverToSite(site: Site, job: DeliveryJob): Promise<RecipientOutcome[]> {
    // The pool skips IPs past today's warm-up cap for this provider (overflow warm_ips) and IPs
    // at the transport's max_per_hour toward this site. When every member is past a cap, the
    // selector picks among all of them and the job is deferred (or waits) as that cap says.
    const warmup = this.#deps.warmup?.forSite(site) ?? null;
    const accept = (address: string) =>
      !this.#sites.get(sourceSiteKey(site.key, address))?.hourlyCapReached &&
      (warmup?.accept(address) ?? true);
    const source = this.#sources.pick(site.transport, site.key, accept);
    const from = source?.address ?? site.transport.bindAddress;
    const result = await this.#deliverFrom(site, source, job, warmup);
    if (result.kind === "done" || !this.#running) return result.outcomes;
    const again = this.#sources.pick(site.transport, site.key, accept);
    if (!again || again.address === from) return result.outcomes;
    this.#deps.logger.info(
      { id: job.id, site: site.key, from, to: again.address },
      "source unusable: moving the job to another source of the pool",
    );
    return (await this.#deliverFrom(site, again, job, warmup)).outcomes;
  }

  /** One try from one source: counted against its warm-up cap first, or deferred to the next day. */
  async #deliverFrom(
    site: Site,
    source: SourcePick | null,
    job: DeliveryJob,
    warmup: SiteWarmup | null,
  ): Promise<QueueResult> {
    const reserved = warmup?.reserve(source?.address ?? site.transport.bindAddress) ?? null;
    if (reserved && !reserved.ok) {
      const until = this.#clock.now() + reserved.waitMs;
      const wait = this.#warmupWaits.get(job.id) ?? { until, indexes: new Set<number>() };
      wait.until = Math.max(wait.until, until);
      for (const r of job.recipients) wait.indexes.add(r.index);
      this.#warmupWaits.set(job.id, wait);
      this.#deps.logger.info(
        { id: job.id, site: site.key, reason: reserved.reply.text },
        "warm-up cap: waiting",
      );
      return {
        kind: "done",
        outcomes: failJob(job, { permanent: false, reply: reserved.reply, scope: "source" }),
      };
    }
    const result = await this.#readyQueue(site, source).deliver(job);
    if (reserved?.ok) reserved.hold?.settle(result.outcomes);
    return result;
  }

  #readyQueue(site: Site, source: SourcePick | null): SiteQueue {
    // The queue's transport carries the source, so delivery binds it with its own HELO.
    const sited: Site = source
      ? { ...site, transport: { ...site.transport, bindAddress: source.address, helo: source.helo } }
      : site;
    const key = sourceSiteKey(site.key, source?.address ?? null);
    let queue = this.#sites.get(key);
    if (!queue) {
      queue = new SiteQueue({
        site: sited,
        connector: this.#deps.connector,
        logger: this.#deps.logger,
        clock: this.#clock,
        deadForMs: Math.min(60_000, site.transport.retryScheduleMs[0] ?? 60_000),
        ...(source ? { events: this.#sourceEvents(source.address, site.key) } : {}),
        ...(this.#deps.backoff ? { backoff: this.#deps.backoff } : {}),
      });
      this.#sites.set(key, queue);
    } else {
      // Pick up reloaded transport settings and fresh MX data for new connections.
      queue.site = sited;
    }
    return queue;
  }

  #sourceEvents(address: string, siteKey: string) {
    const sources = this.#sources;
    return {
      bindFailed: (reason: string) => sources.reportBindFailure(address, reason),
      connectFailed: () => sources.reportConnectFailure(address, siteKey),
      connected: () => sources.reportSuccess(address),
    };
  }
}

function attemptsSoFar(message: QueuedMessage): number {
  return message.deferral?.attempts ?? 0;
}

function firstTransport(round: RoundRecipient[]): TransportConfig | null {
  return round.find((r) => r.transport)?.transport ?? null;
}

function makeJob(message: QueuedMessage, indexes: number[], body: Buffer): DeliveryJob {
  return {
    id: message.id,
    sender: message.sender,
    recipients: indexes.map((index) => {
      const r = message.recipients[index]!;
      return { index, address: r.address, notify: r.dsn.notify, orcpt: r.dsn.orcpt };
    }),
    ret: message.dsn.ret,
    envid: message.dsn.envid,
    bodyType: message.bodyType,
    smtpUtf8: message.smtpUtf8,
    body,
  };
}
