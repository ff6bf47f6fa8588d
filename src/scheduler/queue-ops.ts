/**
 * Operator actions on one instance's queue (`mailfleet queue hold|release|delete|requeue|flush`),
 * kept apart from the scheduler's delivery loop: they only move messages in and out of the due
 * queue and write the durable part (hold, delete) through the spool.
 *
 * - hold: durable (HOLD record) before it counts; a held message is never activated.
 * - release: durable, then due now.
 * - delete: durable (DELETED record), no DSN.
 * - requeue: due now; every attempt routes afresh with the config of that moment, so nothing
 *   cached from an earlier attempt (transport, site, source) is reused.
 * - flush: due now.
 * A message that is being delivered (active) finishes its attempt first: its results are still
 * recorded, then it is held (hold takes effect at once, the round only ends), deleted with the
 * recipients still pending, or made due now (release, requeue). Flushing an active message is a
 * no-op that counts as applied: it is being tried right now.
 */
import type { Logger } from "pino";
import type { QueueId } from "../message/types.ts";
import type { QueuedMessage, Spool } from "../spool/types.ts";

/** Which messages an action applies to (the admin API's QueueSelection). */
export type Selection = { ids: readonly QueueId[] } | { all: true };

export interface QueueOpResult {
  /** Messages the action applied to (already held / not held / held ones left alone don't count). */
  affected: number;
  /** Requested ids not in the queue. */
  missing: QueueId[];
}

/** What the scheduler lends the operations: its message table and due queue. */
export interface QueueOpsHost {
  messages: ReadonlyMap<QueueId, QueuedMessage>;
  spool: Spool;
  logger: Logger;
  now(): number;
  isActive(id: QueueId): boolean;
  /** Puts the id in the due queue at `at` and wakes the pump. */
  schedule(id: QueueId, at: number): void;
  unschedule(id: QueueId): void;
  /** Drops a message from the scheduler's table (and due queue). */
  forget(id: QueueId): void;
}

/** Spool writes for `all` go out in chunks: each chunk is one group commit, memory stays bounded. */
const CHUNK = 5000;

export class QueueOps {
  readonly #host: QueueOpsHost;
  /** Active messages to delete once their attempt ends. */
  readonly #deleteAfterRound = new Set<QueueId>();
  /** Active messages to make due now once their attempt ends (release, requeue). */
  readonly #dueAfterRound = new Set<QueueId>();

  constructor(host: QueueOpsHost) {
    this.#host = host;
  }

  hold(selection: Selection): Promise<QueueOpResult> {
    return this.#apply(selection, async (message) => {
      if (message.held) return false;
      const { id } = message;
      const active = this.#host.isActive(id);
      // Out of the due queue before the write, so the pump cannot start it meanwhile.
      if (!active) this.#host.unschedule(id);
      try {
        if (!(await this.#host.spool.hold(id))) return false;
      } catch (err) {
        if (!active) this.#host.schedule(id, dueAt(message, this.#host.now()));
        throw err;
      }
      message.held = true;
      this.#dueAfterRound.delete(id);
      return true;
    });
  }

  release(selection: Selection): Promise<QueueOpResult> {
    return this.#apply(selection, async (message) => {
      if (!message.held) return false;
      if (!(await this.#host.spool.release(message.id))) return false;
      message.held = false;
      this.#dueNow(message.id);
      return true;
    });
  }

  delete(selection: Selection): Promise<QueueOpResult> {
    return this.#apply(selection, async (message) => {
      const { id } = message;
      if (this.#host.isActive(id)) {
        this.#deleteAfterRound.add(id);
        return true;
      }
      this.#host.unschedule(id);
      let removed: boolean;
      try {
        removed = await this.#host.spool.delete(id);
      } catch (err) {
        if (!message.held) this.#host.schedule(id, dueAt(message, this.#host.now()));
        throw err;
      }
      this.#host.forget(id);
      return removed;
    });
  }

  requeue(selection: Selection): Promise<QueueOpResult> {
    return this.#apply(selection, async (message) => {
      if (message.held) return false;
      this.#dueNow(message.id);
      return true;
    });
  }

  flush(selection: Selection): Promise<QueueOpResult> {
    return this.#apply(selection, async (message) => {
      if (message.held) return false;
      if (!this.#host.isActive(message.id)) this.#host.schedule(message.id, this.#host.now());
      return true;
    });
  }

  /**
   * Called by the scheduler when an attempt ended (results recorded, retry time set): applies what
   * was asked for meanwhile. Returns after a pending delete is durable.
   */
  async afterRound(message: QueuedMessage): Promise<void> {
    const { id } = message;
    const remove = this.#deleteAfterRound.delete(id);
    const due = this.#dueAfterRound.delete(id);
    if (!this.#host.messages.has(id)) return;
    if (remove) {
      this.#host.unschedule(id);
      try {
        await this.#host.spool.delete(id);
      } catch (err) {
        this.#host.logger.error({ err, id }, "could not delete the message after its attempt");
        if (!message.held) this.#host.schedule(id, dueAt(message, this.#host.now()));
        return;
      }
      this.#deleteAfterRound.delete(id);
      this.#host.forget(id);
      return;
    }
    if (message.held) this.#host.unschedule(id);
    else if (due) this.#host.schedule(id, this.#host.now());
  }

  #dueNow(id: QueueId): void {
    if (this.#host.isActive(id)) this.#dueAfterRound.add(id);
    else this.#host.schedule(id, this.#host.now());
  }

  async #apply(
    selection: Selection,
    action: (message: QueuedMessage) => Promise<boolean>,
  ): Promise<QueueOpResult> {
    const missing: QueueId[] = [];
    let targets: QueuedMessage[];
    if ("all" in selection) {
      targets = [...this.#host.messages.values()];
    } else {
      targets = [];
      for (const id of new Set(selection.ids)) {
        const message = this.#host.messages.get(id);
        if (message === undefined) missing.push(id);
        else targets.push(message);
      }
    }
    let affected = 0;
    for (let i = 0; i < targets.length; i += CHUNK) {
      const applied = await Promise.all(targets.slice(i, i + CHUNK).map(action));
      affected += applied.filter(Boolean).length;
    }
    return { affected, missing };
  }
}

/** When a message would be due had nobody touched it. */
function dueAt(message: QueuedMessage, now: number): number {
  return message.deferral?.nextAttemptAt ?? now;
}
