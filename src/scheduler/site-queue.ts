/**
 * Ready queue for one destination site (transport x MX host set): jobs that are due now, and
 * the SMTP connections that drain them. At most `transport.concurrency` connections are open;
 * each one is reused for job after job until the queue stays empty for `idleTimeoutMs` or the
 * session stops being usable. When no host of the site takes a connection, the site is "dead"
 * for a short while and every job for it fails fast with the same reply, so a dead destination
 * costs nothing to the others (Postfix's qmgr does the same).
 */
import type { Logger } from "pino";
import type { DeliveryJob, Site, SiteConnector } from "../delivery/types.ts";
import type { FailureScope, RecipientOutcome, Reply } from "../message/types.ts";

export interface Clock {
  now(): number;
}

interface Pending {
  job: DeliveryJob;
  resolve: (outcomes: RecipientOutcome[]) => void;
}

interface DeadState {
  until: number;
  permanent: boolean;
  reply: Reply;
  scope: FailureScope;
}

export interface SiteQueueOptions {
  site: Site;
  connector: SiteConnector;
  logger: Logger;
  clock: Clock;
  /** How long a site stays dead after every host failed. */
  deadForMs: number;
}

export class SiteQueue {
  site: Site;
  readonly #connector: SiteConnector;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #deadForMs: number;
  readonly #queue: Pending[] = [];
  /** Idle connections waiting for work; calling one hands it a job (or null to close). */
  readonly #idle: ((next: Pending | null) => void)[] = [];
  #connections = 0;
  #dead: DeadState | null = null;
  #stopped = false;

  constructor(options: SiteQueueOptions) {
    this.site = options.site;
    this.#connector = options.connector;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#deadForMs = options.deadForMs;
  }

  get connections(): number {
    return this.#connections;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** True when nothing is queued or connected: the owner may drop this queue. */
  get isIdle(): boolean {
    return this.#queue.length === 0 && this.#connections === 0;
  }

  /** Queues one job; resolves with its per-recipient outcomes (never rejects). */
  deliver(job: DeliveryJob): Promise<RecipientOutcome[]> {
    return new Promise((resolve) => {
      const pending = { job, resolve };
      const dead = this.#deadNow();
      if (dead || this.#stopped) {
        resolve(failJob(job, dead ?? stoppedFailure()));
        return;
      }
      const idle = this.#idle.shift();
      if (idle) {
        idle(pending);
        return;
      }
      this.#queue.push(pending);
      if (this.#connections < this.site.transport.concurrency) this.#startConnection();
    });
  }

  /** Stops taking work: queued jobs fail as deferred, idle connections close. */
  stop(): void {
    this.#stopped = true;
    for (const p of this.#queue.splice(0)) p.resolve(failJob(p.job, stoppedFailure()));
    for (const idle of this.#idle.splice(0)) idle(null);
  }

  #deadNow(): DeadState | null {
    if (this.#dead && this.#dead.until > this.#clock.now()) return this.#dead;
    this.#dead = null;
    return null;
  }

  #startConnection(): void {
    this.#connections++;
    this.#runConnection()
      .catch((err: unknown) => this.#logger.error({ err, site: this.site.key }, "connection worker failed"))
      .finally(() => {
        this.#connections--;
        if (this.#queue.length > 0 && !this.#stopped && this.#connections < this.site.transport.concurrency) {
          this.#startConnection();
        }
      });
  }

  async #runConnection(): Promise<void> {
    const opened = await this.#connector.open(this.site);
    if (!opened.ok) {
      this.#dead = {
        until: this.#clock.now() + this.#deadForMs,
        permanent: opened.permanent,
        reply: opened.reply,
        scope: opened.scope,
      };
      this.#logger.warn(
        { site: this.site.key, reply: opened.reply, deadForMs: this.#deadForMs },
        "destination unreachable: failing its queued mail",
      );
      for (const p of this.#queue.splice(0)) p.resolve(failJob(p.job, this.#dead));
      return;
    }
    const session = opened.session;
    try {
      for (;;) {
        const next = this.#queue.shift() ?? (await this.#waitForWork());
        if (!next) break;
        next.resolve(await session.deliver(next.job));
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

function stoppedFailure(): DeadState {
  return {
    until: 0,
    permanent: false,
    reply: { code: 451, enhanced: "4.3.2", text: "delivery stopped: instance shutting down" },
    scope: "message",
  };
}

/** The same failure for every recipient of a job. */
export function failJob(
  job: DeliveryJob,
  failure: { permanent: boolean; reply: Reply; scope: FailureScope },
): RecipientOutcome[] {
  return job.recipients.map((r) =>
    failure.permanent
      ? { kind: "bounced", recipientIndex: r.index, reply: failure.reply, scope: failure.scope, relay: null }
      : {
          kind: "deferred",
          recipientIndex: r.index,
          reply: failure.reply,
          scope: failure.scope,
          relay: null,
        },
  );
}
