/**
 * Seam between the SMTP listener and the rest of the instance. The listener speaks SMTP and
 * enforces protocol limits; what happens to an accepted message is the Receiver's job.
 */
import type { NewMessage, QueueId, Reply } from "../message/types.ts";

export type AcceptResult = { ok: true; id: QueueId } | { ok: false; reply: Reply };

export interface Receiver {
  /** Called at MAIL FROM: a reply to refuse the transaction (e.g. 452 4.3.1 disk low), or null. */
  checkCapacity(): Promise<Reply | null>;
  /** Called at end of DATA; must resolve only once the message is durable (then we say 250). */
  accept(message: NewMessage, body: Buffer): Promise<AcceptResult>;
}
