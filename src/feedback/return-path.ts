/**
 * The VERP return path of an outbound transaction, and the notice of that send which the
 * attribution store keeps, so that a bounce or complaint naming the token can be pinned on the
 * tenant, source IP, transport and provider. Built where the transaction runs (the main thread,
 * or a delivery thread that posts the notice back to the instance, the store's one writer).
 */
import type { SiteConnectorDeps } from "../delivery/smtp-session.ts";
import { providerOf } from "./counters-events.ts";
import { ANY_RECIPIENT, type VerpSettings, verpAddress } from "./verp.ts";

/** One transaction as the attribution store records it; the store adds the time. */
export interface SendNotice {
  queueId: string;
  sender: string;
  recipients: { index: number; address: string }[];
  sourceIp: string | null;
  transport: string;
  provider: string | null;
}

/** The connector's returnPath hook: notes the send, then answers the VERP address. */
export function verpReturnPath(
  verp: VerpSettings,
  noteSend: (notice: SendNotice) => void,
): NonNullable<SiteConnectorDeps["returnPath"]> {
  return (site, relay, job, recipients) => {
    // Noted before MAIL FROM: a bounce can never outrun its attribution.
    noteSend({
      queueId: job.id,
      sender: job.sender,
      recipients: recipients.map((r) => ({ index: r.index, address: r.address })),
      sourceIp: relay.sourceIp,
      transport: site.transport.name,
      provider: providerOf(relay.host, recipients[0]?.address ?? null),
    });
    const only = recipients.length === 1 ? recipients[0]!.index : ANY_RECIPIENT;
    return verpAddress(verp, { queueId: job.id, recipientIndex: only });
  };
}
