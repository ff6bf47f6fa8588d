/**
 * Entry point of a delivery thread (a worker_threads Worker started by thread-connector.ts).
 * It runs the ordinary SiteConnector (smtp-session.ts) on its own event loop, so the outbound
 * SMTP sessions (nodemailer's client, dot-stuffing, DKIM signing, socket writes) use another
 * core than the listeners and the spool. It keeps the open sessions by number and answers each
 * request with plain data; the scheduler, the limits and the spool stay on the instance thread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createDkimSigner, type DkimSigner } from "../dkim/signer.ts";
import { verpReturnPath } from "../feedback/return-path.ts";
import { createLogger } from "../results/logger.ts";
import { createSiteConnector } from "./smtp-session.ts";
import { StartGate } from "./start-gate.ts";
import { type FromThread, pacingKey, type ThreadSettings, type ToThread } from "./thread-protocol.ts";
import type { DeliveryJob, SiteSession } from "./types.ts";

function run(port: NonNullable<typeof parentPort>, settings: ThreadSettings): void {
  const post = (message: FromThread) => port.postMessage(message);
  const logger = createLogger({ level: settings.logLevel, file: "stderr" }).child({
    ...settings.logBindings,
    thread: "delivery",
  });
  let dkim: DkimSigner | null = settings.dkim ? createDkimSigner(settings.dkim) : null;
  const verp = settings.verp ? { ...settings.verp, secret: Buffer.from(settings.verp.secret) } : null;
  const connector = createSiteConnector({
    logger,
    dkim: () => dkim,
    ...(verp ? { returnPath: verpReturnPath(verp, (notice) => post({ event: "send", notice })) } : {}),
  });
  const sessions = new Map<number, { session: SiteSession; key: string }>();
  let nextSession = 1;
  /**
   * Rate delay per source IP x site, kept again right before the MAIL FROM. The scheduler spaced
   * the starts it gave out, but requests can reach this thread bunched (its event loop was
   * busy): the gap counts from when the previous transaction actually went.
   */
  const gates = new Map<string, StartGate>();

  function keepGap(key: string, minGapMs: number): Promise<void> {
    if (minGapMs <= 0) return Promise.resolve();
    if (gates.size > 10_000) {
      const stale = performance.now() - 60_000;
      for (const [k, gate] of gates) if (gate.lastStartAt < stale) gates.delete(k);
    }
    let gate = gates.get(key);
    if (!gate) {
      gate = new StartGate(() => performance.now());
      gates.set(key, gate);
    }
    return gate.waitTurn(() => minGapMs);
  }

  async function handle(message: ToThread): Promise<FromThread | null> {
    switch (message.op) {
      case "open": {
        const opened = await connector.open(message.site);
        if (!opened.ok) return { req: message.req, open: opened };
        const id = nextSession++;
        sessions.set(id, { session: opened.session, key: pacingKey(message.site) });
        return { req: message.req, open: { ok: true, session: id } };
      }
      case "deliver": {
        const entry = sessions.get(message.session);
        if (!entry) throw new Error(`no delivery session ${message.session}`);
        const job: DeliveryJob = { ...message.job, body: asBuffer(message.job.body) };
        const outcomes = await entry.session.deliver(job, {
          minGapMs: message.minGapMs,
          // Spaced where the MAIL FROM really goes out, after any 8-bit conversion or signing.
          beforeTransaction: () => keepGap(entry.key, message.minGapMs),
        });
        return { req: message.req, outcomes, usable: entry.session.usable };
      }
      case "close": {
        const entry = sessions.get(message.session);
        sessions.delete(message.session);
        await entry?.session.close();
        return { req: message.req, closed: true };
      }
      case "dkim":
        try {
          dkim = message.dkim ? createDkimSigner(message.dkim) : null;
        } catch (err) {
          logger.error(
            { err },
            "DKIM keys not reloaded in the delivery thread: keeping the keys loaded before",
          );
        }
        return null;
    }
  }

  port.on("message", (message: ToThread) => {
    handle(message).then(
      (reply) => {
        if (reply) post(reply);
      },
      (err: unknown) => {
        logger.error({ err }, "delivery thread request failed");
        if ("req" in message) post({ req: message.req, error: String(err) });
      },
    );
  });
}

/** A cloned Buffer arrives as a plain Uint8Array: view the same bytes as a Buffer again. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

if (parentPort) run(parentPort, workerData as ThreadSettings);
