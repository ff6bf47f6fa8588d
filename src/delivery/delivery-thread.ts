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
import type { FromThread, ThreadSettings, ToThread } from "./thread-protocol.ts";
import type { DeliveryJob, SiteSession } from "./types.ts";

function run(port: NonNullable<typeof parentPort>, settings: ThreadSettings): void {
  const post = (message: FromThread) => port.postMessage(message);
  const logger = createLogger({ level: settings.logLevel as never, file: "stderr" }).child({
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
  const sessions = new Map<number, SiteSession>();
  let nextSession = 1;

  async function handle(message: ToThread): Promise<FromThread | null> {
    switch (message.op) {
      case "open": {
        const opened = await connector.open(message.site);
        if (!opened.ok) return { req: message.req, open: opened };
        const id = nextSession++;
        sessions.set(id, opened.session);
        return { req: message.req, open: { ok: true, session: id } };
      }
      case "deliver": {
        const session = sessions.get(message.session);
        if (!session) throw new Error(`no delivery session ${message.session}`);
        const job: DeliveryJob = { ...message.job, body: asBuffer(message.job.body) };
        const outcomes = await session.deliver(job);
        return { req: message.req, outcomes, usable: session.usable };
      }
      case "close": {
        const session = sessions.get(message.session);
        sessions.delete(message.session);
        await session?.close();
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
