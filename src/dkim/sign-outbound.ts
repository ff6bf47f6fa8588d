/**
 * The delivery path's DKIM step: takes the outbound message that outbound-message.ts settled for
 * one peer (the exact bytes that will be sent) and returns it with DKIM-Signature fields in
 * front. A signing failure defers the message (451 4.3.0, scope message) rather than sending
 * it unsigned, where a receiver enforcing DMARC would refuse it.
 */
import type { Logger } from "pino";

import type { OutboundMessage } from "../delivery/outbound-message.ts";
import type { DeliveryJob } from "../delivery/types.ts";
import type { DkimSigner } from "./signer.ts";

export async function signOutbound(
  signer: DkimSigner,
  job: DeliveryJob,
  outbound: OutboundMessage,
  logger: Logger,
): Promise<OutboundMessage> {
  if (!outbound.ok) return outbound;
  const signed = await signer.sign({ id: job.id, sender: job.sender }, outbound.body);
  if (!signed.ok) {
    logger.error({ id: job.id, reason: signed.reason }, "DKIM signing failed: message deferred");
    return { ok: false, reply: { code: 451, enhanced: "4.3.0", text: signed.reason } };
  }
  if (signed.signatures.length > 0) logger.debug({ id: job.id, dkim: signed.signatures }, "DKIM signed");
  return { ...outbound, body: signed.body };
}
