/**
 * Ready queue for one destination site (transport x MX host set) from one source address: jobs
 * that are due now, and the SMTP connections that drain them. The site's transport already
 * carries the source (bindAddress + helo), so the delivery code binds it without knowing pools.
 * Per queue, so per source IP x site, it enforces the transport's limits:
 *   - concurrency: at most that many connections; each one is reused for job after job until
 *     the queue stays empty for `idleTimeoutMs` or the session stops being usable;
 *   - rateDelayMs: successive deliveries START at least this far apart, across all connections
 *     (each start reserves the next slot synchronously, and the job waits for its slot on a timer);
 *   - maxPerHour: jobs taken in the rolling hour (a job that never reached the destination gives
 *     its slot back); past the cap a job is deferred at once. The scheduler asks `hourlyCapReached`
 *     first, so that a pool sends from another member while this one is at its cap.
 * Adaptive backoff (src/reputation/backoff.ts), when given, may suspend the queue (jobs are deferred
 * at once, scope "source") or lengthen its rate delay; it sees every reply the peer gave.
 * When no host of the site takes a connection, the queue is "dead" for a short while and every
 * job fails fast with the same reply, so a dead destination costs nothing to the others (Postfix's
 * qmgr does the same). When the source address cannot even be bound, nothing is wrong with the
 * site: the jobs come back as "source-unusable" so the caller can move them to another source.
 */
import type { Logger } from "pino";
import { StartGate } from "../delivery/start-gate.ts";
import type { DeliveryJob, Site, SiteConnector } from "../delivery/types.ts";
import type { FailureScope, RecipientOutcome, Reply } from "../message/types.ts";
import type { BackoffGate } from "../reputation/backoff.ts";

export interface Clock {
  now(): number;
}

/** What happened to one job handed to a queue. */
export type QueueResult =
  | { kind: "done"; outcomes: RecipientOutcome[] }
  /** The source address could not be bound; nothing was sent. `outcomes` defers every recipient. */
  | { kind: "source-unusable"; reply: Reply; outcomes: RecipientOutcome[] };

/** Health signals about the queue's source address (the scheduler forwards them to the pool). */
export interface SourceEvents {
  bindFailed(reason: string): void;
  connectFailed(): void;
  connected(): void;
}

interface Pending {
  job: DeliveryJob;
  resolve: (result: QueueResult) => void;
  /** Its entry in the hourly window, given back when the job was never attempted. */
  reservedAt: number | null;
}

interface Failure {
  permanent: boolean;
  reply: Reply;
  scope: FailureScope;
}

interface DeadState extends Failure {
  until: number;
}

export interface SiteQueueOptions {
  /** The site, with a transport whose bindAddress/helo are this queue's source. */
  site: Site;
  connector: SiteConnector;
  logger: Logger;
  clock: Clock;
  /** How long a site stays dead after every host failed. */
  deadForMs: number;
  events?: SourceEvents;
  /** Adaptive backoff (src/reputation/backoff.ts): suspensions and a reduced start rate. */
  backoff?: BackoffGate;
}

const HOUR_MS = 3_600_000;

export class SiteQueue {
  site: Site;
  readonly #connector: SiteConnector;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #deadForMs: number;
  readonly #events: SourceEvents | null;
  readonly #backoff: BackoffGate | null;
  readonly #queue: Pending[] = [];
  /** Idle connections waiting for work; calling one hands it a job (or null to close). */
  readonly #idle: ((next: Pending | null) => void)[] = [];
  #connections = 0;
  #dead: DeadState | null = null;
  #stopped = false;
  /** Rate delay: when the last delivery started, and the turn of the next. */
  readonly #startGate: StartGate;
  /** Start times reserved in the last hour, oldest first from #hourlyHead (max_per_hour). */
  #hourly: number[] = [];
  #hourlyHead = 0;

  constructor(options: SiteQueueOptions) {
    this.site = options.site;
    this.#connector = options.connector;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#startGate = new StartGate(() => options.clock.now());
    this.#deadForMs = options.deadForMs;
    this.#events = options.events ?? null;
    this.#backoff = options.backoff ?? null;
  }

  get connections(): number {
    return this.#connections;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** The bound source address, or null for the OS default. */
  get source(): string | null {
    return this.site.transport.bindAddress;
  }

  /**
   * True when nothing is queued or connected and no limit still remembers recent deliveries:
   * the owner may drop this queue without losing a rate delay or an hourly count.
   */
  get isIdle(): boolean {
    if (this.#queue.length > 0 || this.#connections > 0) return false;
    if (!this.#startGate.gapKept(this.#rateDelayMs())) return false;
    return this.#hourlyCount() === 0;
  }

  /** Queues one job; resolves with its per-recipient outcomes (never rejects). */
  deliver(job: DeliveryJob): Promise<QueueResult> {
    return new Promise((resolve) => {
      const dead = this.#deadNow();
      if (dead || this.#stopped) {
        resolve(done(failJob(job, dead ?? stoppedFailure())));
        return;
      }
      const capped = this.#backoffFailure() ?? this.#hourlyCapFailure();
      if (capped) {
        resolve(done(failJob(job, capped)));
        return;
      }
      const pending: Pending = { job, resolve, reservedAt: this.#reserveHourly() };
      const idle = this.#idle.shift();
      if (idle) {
        idle(pending);
        return;
      }
      this.#queue.push(pending);
      if (this.#connections < this.#concurrency()) this.#startConnection();
    });
  }

  /** Stops taking work: queued jobs fail as deferred, idle connections close. */
  stop(): void {
    this.#stopped = true;
    for (const p of this.#queue.splice(0)) this.#fail(p, stoppedFailure());
    for (const idle of this.#idle.splice(0)) idle(null);
  }

  #concurrency(): number {
    const limit = this.site.transport.limits.concurrency;
    return limit > 0 ? limit : Number.POSITIVE_INFINITY;
  }

  #deadNow(): DeadState | null {
    if (this.#dead && this.#dead.until > this.#clock.now()) return this.#dead;
    this.#dead = null;
    return null;
  }

  /** The start interval: the transport's rate_delay, or longer while backoff reduces the rate. */
  #rateDelayMs(): number {
    const configured = this.site.transport.limits.rateDelayMs;
    return this.#backoff ? this.#backoff.rateDelayMs(this.source, this.site, configured) : configured;
  }

  /**
   * Adaptive backoff suspended this source IP x site: the job is deferred at once (scope
   * "source", like the hourly cap) and waits for its next retry; nothing reaches the site.
   */
  #backoffFailure(): Failure | null {
    const reply = this.#backoff?.suspension(this.source, this.site) ?? null;
    return reply ? { permanent: false, reply, scope: "source" } : null;
  }

  #hourlyCount(): number {
    const from = this.#clock.now() - HOUR_MS;
    while (this.#hourlyHead < this.#hourly.length && this.#hourly[this.#hourlyHead]! <= from)
      this.#hourlyHead++;
    if (this.#hourlyHead > 1024 && this.#hourlyHead * 2 > this.#hourly.length) {
      this.#hourly = this.#hourly.slice(this.#hourlyHead);
      this.#hourlyHead = 0;
    }
    return this.#hourly.length - this.#hourlyHead;
  }

  /** True when max_per_hour jobs were taken in the last hour: the next one would be deferred. */
  get hourlyCapReached(): boolean {
    const cap = this.site.transport.limits.maxPerHour;
    return cap > 0 && this.#hourlyCount() >= cap;
  }

  /**
   * max_per_hour reached: the job is deferred at once rather than held until the window has room.
   * Holding it would keep up to an hour of mail in memory per queue and hide it from the spool's
   * retry bookkeeping; deferring sends it through the normal retry schedule (durable, visible in
   * mailq with this reason). The scope is "source": the limit is our own choice for this source
   * IP x site, so it must not count against the destination (no dead site, no site throttling).
   */
  #hourlyCapFailure(): Failure | null {
    if (!this.hourlyCapReached) return null;
    const cap = this.site.transport.limits.maxPerHour;
    const source = this.source ?? "default source";
    return {
      permanent: false,
      reply: {
        code: 451,
        enhanced: "4.7.0",
        text: `hourly limit of ${cap} messages reached for ${source} -> ${this.site.key}`,
      },
      scope: "source",
    };
  }

  #reserveHourly(): number | null {
    if (this.site.transport.limits.maxPerHour <= 0) return null;
    const at = this.#clock.now();
    this.#hourly.push(at);
    return at;
  }

  /** Gives back a never-attempted job's hourly slot. */
  #release(pending: Pending): void {
    if (pending.reservedAt === null) return;
    const i = this.#hourly.lastIndexOf(pending.reservedAt);
    if (i >= this.#hourlyHead) this.#hourly.splice(i, 1);
    pending.reservedAt = null;
  }

  #fail(pending: Pending, failure: Failure): void {
    this.#release(pending);
    pending.resolve(done(failJob(pending.job, failure)));
  }

  #startConnection(): void {
    this.#connections++;
    this.#runConnection()
      .catch((err: unknown) => this.#logger.error({ err, site: this.site.key }, "connection worker failed"))
      .finally(() => {
        this.#connections--;
        if (this.#queue.length > 0 && !this.#stopped && this.#connections < this.#concurrency()) {
          this.#startConnection();
        }
      });
  }

  async #runConnection(): Promise<void> {
    const opened = await this.#connector.open(this.site);
    if (!opened.ok) {
      if (opened.bindFailed === true) {
        this.#events?.bindFailed(opened.reply.text);
        for (const p of this.#queue.splice(0)) {
          this.#release(p);
          p.resolve({
            kind: "source-unusable",
            reply: opened.reply,
            outcomes: failJob(p.job, { permanent: false, reply: opened.reply, scope: "source" }),
          });
        }
        return;
      }
      this.#events?.connectFailed();
      this.#backoff?.observe(this.source, this.site, opened.reply, this.site.transport.limits.rateDelayMs);
      this.#dead = {
        until: this.#clock.now() + this.#deadForMs,
        permanent: opened.permanent,
        reply: opened.reply,
        scope: opened.scope,
      };
      this.#logger.warn(
        { site: this.site.key, source: this.source, reply: opened.reply, deadForMs: this.#deadForMs },
        "destination unreachable: failing its queued mail",
      );
      for (const p of this.#queue.splice(0)) this.#fail(p, this.#dead);
      return;
    }
    this.#events?.connected();
    const session = opened.session;
    try {
      for (;;) {
        const next = this.#queue.shift() ?? (await this.#waitForWork());
        if (!next) break;
        await this.#startGate.waitTurn(() => this.#rateDelayMs());
        if (this.#stopped) {
          this.#fail(next, stoppedFailure());
          break;
        }
        const suspended = this.#backoffFailure();
        if (suspended) {
          for (const p of [next, ...this.#queue.splice(0)]) this.#fail(p, suspended);
          break;
        }
        const outcomes = await session.deliver(next.job, { minGapMs: this.#rateDelayMs() });
        this.#backoff?.observe(this.source, this.site, outcomes, this.site.transport.limits.rateDelayMs);
        next.resolve(done(outcomes));
        if (!session.usable || this.#stopped) break;
      }
    } finally {
      await session.close();
    }
  }

  #waitForWork(): Promise<Pending | null> {
    return new Promise((resolve) => {
      let settled = false;
      const handOver = (next: Pending | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(next);
      };
      const timer = setTimeout(() => {
        const i = this.#idle.indexOf(handOver);
        if (i >= 0) this.#idle.splice(i, 1);
        handOver(null);
      }, this.site.transport.idleTimeoutMs);
      timer.unref();
      this.#idle.push(handOver);
    });
  }
}

function done(outcomes: RecipientOutcome[]): QueueResult {
  return { kind: "done", outcomes };
}

function stoppedFailure(): Failure {
  return {
    permanent: false,
    reply: { code: 451, enhanced: "4.3.2", text: "delivery stopped: instance shutting down" },
    scope: "message",
  };
}

/** The same failure for every recipient of a job. */
export function failJob(job: DeliveryJob, failure: Failure): RecipientOutcome[] {
  return job.recipients.map((r) => failureOutcome(r.index, failure));
}

/** A recipient's outcome for a failure that never reached a server (DNS, dead site, stop). */
export function failureOutcome(recipientIndex: number, failure: Failure): RecipientOutcome {
  const { reply, scope } = failure;
  return failure.permanent
    ? { kind: "bounced", recipientIndex, reply, scope, relay: null }
    : { kind: "deferred", recipientIndex, reply, scope, relay: null };
}
