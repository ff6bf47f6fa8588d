/**
 * A SiteConnector whose SMTP sessions run in delivery threads (delivery-thread.ts), so that an
 * instance sends on one core while it receives and spools on another. The scheduler sees the
 * same contract as with the in-process connector: open() a site, deliver() jobs through the
 * session, close() it; every answer is data. A session lives in one thread, the one that holds
 * every session to its source IP x site.
 *
 * A thread that dies (a bug, or memory) fails what it had in flight as deferred, so nothing is
 * lost: a message it may already have handed over is marked as a possible duplicate. The next
 * open() starts a fresh thread in its place.
 */
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { DkimConfig } from "../config/types.ts";
import type { SendNotice } from "../feedback/return-path.ts";
import type { RecipientOutcome, Reply } from "../message/types.ts";
import {
  type FromThread,
  type OpenReply,
  pacingKey,
  type ThreadSettings,
  type ToThread,
} from "./thread-protocol.ts";
import type { DeliveryJob, OpenResult, Site, SiteConnector, SiteSession } from "./types.ts";

export interface ThreadConnector extends SiteConnector {
  /** Hands reloaded DKIM keys to every thread (null: stop signing). */
  setDkim(dkim: DkimConfig | null): void;
  /** Stops the threads; sessions still open are dropped. Call after the scheduler stopped. */
  close(): Promise<void>;
}

export interface ThreadConnectorOptions {
  threads: number;
  settings: ThreadSettings;
  logger: Logger;
  /** Where the threads' VERP send notices go (the attribution store). */
  noteSend?: (notice: SendNotice) => void;
}

const THREAD_ENTRY = new URL("./delivery-thread.ts", import.meta.url);

const threadFailure = (why: string): Reply => ({
  code: 451,
  enhanced: "4.3.0",
  text: `delivery thread failed: ${why}`,
});

type Answer = Exclude<FromThread, { event: "send" }>;

/** FNV-1a: a stable spread of keys over the threads. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

interface Thread {
  worker: Worker;
  pending: Map<number, (answer: Answer | null) => void>;
  alive: boolean;
}

export function createThreadConnector(options: ThreadConnectorOptions): ThreadConnector {
  const { logger } = options;
  let settings = options.settings;
  const threads: (Thread | null)[] = Array.from({ length: Math.max(1, options.threads) }, () => null);
  let nextReq = 1;
  let closing = false;

  function startThread(slot: number): Thread {
    // A small young generation, as for the instance itself (supervisor/fork-instance.ts).
    const worker = new Worker(THREAD_ENTRY, {
      workerData: settings,
      resourceLimits: { maxYoungGenerationSizeMb: 24 },
    });
    const thread: Thread = { worker, pending: new Map(), alive: true };
    worker.on("message", (message: FromThread) => {
      if ("event" in message) {
        options.noteSend?.(message.notice);
        return;
      }
      const resolve = thread.pending.get(message.req);
      thread.pending.delete(message.req);
      resolve?.(message);
    });
    const died = (why: string) => {
      if (!thread.alive) return;
      thread.alive = false;
      if (threads[slot] === thread) threads[slot] = null;
      if (!closing) logger.error({ why, inFlight: thread.pending.size }, "delivery thread died");
      for (const resolve of thread.pending.values()) resolve(null);
      thread.pending.clear();
    };
    worker.on("error", (err) => died(err.message));
    worker.on("exit", (code) => died(`exit code ${code}`));
    threads[slot] = thread;
    return thread;
  }

  /** Sends a request; null when the thread died before it answered. */
  function request(thread: Thread, message: ToThread & { req: number }): Promise<Answer | null> {
    if (!thread.alive) return Promise.resolve(null);
    return new Promise((resolve) => {
      thread.pending.set(message.req, resolve);
      thread.worker.postMessage(message);
    });
  }

  /**
   * Every session to one source IP x site goes to the same thread, so that thread alone keeps
   * the rate delay between their transactions (delivery-thread.ts).
   */
  function pickThread(site: Site): Thread {
    const slot = hash(pacingKey(site)) % threads.length;
    return threads[slot] ?? startThread(slot);
  }

  function remoteSession(thread: Thread, id: number): SiteSession {
    let usable = true;
    const failAll = (job: DeliveryJob, why: string, inFlight: boolean): RecipientOutcome[] =>
      job.recipients.map((r) => ({
        kind: "deferred",
        recipientIndex: r.index,
        reply: threadFailure(why),
        scope: "destination",
        relay: null,
        ...(inFlight ? { mayBeDuplicated: true } : {}),
      }));
    return {
      get usable() {
        return usable && thread.alive;
      },
      async deliver(job, pacing) {
        if (!thread.alive) return failAll(job, "thread gone before the transaction", false);
        const minGapMs = pacing?.minGapMs ?? 0;
        const answer = await request(thread, { op: "deliver", req: nextReq++, session: id, job, minGapMs });
        if (answer === null) {
          usable = false;
          return failAll(job, "thread died during the transaction", true);
        }
        if ("error" in answer) {
          usable = false;
          return failAll(job, answer.error, true);
        }
        if (!("outcomes" in answer)) throw new Error("delivery thread: unexpected answer to deliver");
        usable = answer.usable;
        return answer.outcomes;
      },
      async close() {
        usable = false;
        await request(thread, { op: "close", req: nextReq++, session: id });
      },
    };
  }

  // The first thread starts now, so a thread that cannot start shows at instance start.
  startThread(0);

  return {
    async open(site): Promise<OpenResult> {
      // After close(): no new thread, whatever still asks.
      if (closing)
        return { ok: false, permanent: false, reply: threadFailure("closed"), scope: "destination" };
      const thread = pickThread(site);
      const answer = await request(thread, { op: "open", req: nextReq++, site });
      const opened: OpenReply =
        answer === null || "error" in answer || !("open" in answer)
          ? {
              ok: false,
              permanent: false,
              reply: threadFailure(
                answer && "error" in answer ? answer.error : "thread died while connecting",
              ),
              scope: "destination",
            }
          : answer.open;
      if (!opened.ok) return opened;
      return { ok: true, session: remoteSession(thread, opened.session) };
    },
    setDkim(dkim) {
      settings = { ...settings, dkim };
      for (const thread of threads) thread?.worker.postMessage({ op: "dkim", dkim } satisfies ToThread);
    },
    async close() {
      closing = true;
      await Promise.all(threads.map((thread) => thread?.worker.terminate()));
    },
  };
}
