/**
 * Decides, once per message and connection, what may go to this peer given what its EHLO
 * announced: SMTPUTF8 (RFC 6531) and 8BITMIME (RFC 6152). A message that needs SMTPUTF8 (a
 * non-ASCII sender, or UTF-8 header fields in SMTPUTF8 mail) cannot go to a peer without it
 * (5.6.7). An 8-bit body goes unchanged to an 8BITMIME peer (byte-identical, so DKIM
 * signatures survive) and is downgraded to quoted-printable for any other, or refused with
 * 5.6.3 when it cannot be. Non-ASCII recipient addresses are judged per recipient by the
 * transaction. The result is data: the body to send and the MAIL parameters, or a reply.
 */
import type { Reply } from "../message/types.ts";
import { downgradeTo7bit, hasEightBit, headerSection } from "./downgrade-8bit.ts";
import type { DeliveryJob } from "./types.ts";

/** The EHLO keywords that decide how a message may be sent. */
export interface PeerFeatures {
  eightBitMime: boolean;
  smtpUtf8: boolean;
}

export type OutboundMessage =
  | {
      ok: true;
      body: Buffer;
      /** Send BODY=8BITMIME (when the peer announces it). */
      eightBitMime: boolean;
      /** Send SMTPUTF8 on MAIL (when the peer announces it). */
      smtpUtf8: boolean;
      /** Leaves re-encoded to quoted-printable; 0 when the body is the stored one. */
      downgradedParts: number;
    }
  /** The message cannot go to this peer: every recipient gets this reply (scope message). */
  | { ok: false; reply: Reply };

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the ASCII range on purpose
const NON_ASCII = /[^\x00-\x7f]/;

export function isNonAscii(address: string): boolean {
  return NON_ASCII.test(address);
}

/** The features nodemailer found in the peer's EHLO reply. */
export function peerFeatures(supportedExtensions: readonly string[]): PeerFeatures {
  return {
    eightBitMime: supportedExtensions.includes("8BITMIME"),
    smtpUtf8: supportedExtensions.includes("SMTPUTF8"),
  };
}

export async function prepareOutbound(
  job: DeliveryJob,
  peer: PeerFeatures,
  peerName: string,
): Promise<OutboundMessage> {
  // RFC 6531 3.2: an internationalized message must not go to a server without SMTPUTF8.
  // A client's SMTPUTF8 flag on mail that is all ASCII is only a hint (as Postfix reads it):
  // such mail needs nothing the peer lacks.
  const utf8Headers = job.smtpUtf8 && hasEightBit(headerSection(job.body));
  if (!peer.smtpUtf8 && isNonAscii(job.sender)) {
    const text = `SMTPUTF8 is required for the non-ASCII sender address, but ${peerName} does not offer it`;
    return { ok: false, reply: { code: 553, enhanced: "5.6.7", text } };
  }
  if (!peer.smtpUtf8 && utf8Headers) {
    const text = `SMTPUTF8 is required for the UTF-8 header fields, but ${peerName} does not offer it`;
    return { ok: false, reply: { code: 550, enhanced: "5.6.7", text } };
  }
  const smtpUtf8 = job.smtpUtf8 || isNonAscii(job.sender);
  const eightBit = hasEightBit(job.body);
  if (!eightBit || peer.eightBitMime) {
    return {
      ok: true,
      body: job.body,
      eightBitMime: eightBit || job.bodyType === "8BITMIME",
      smtpUtf8,
      downgradedParts: 0,
    };
  }
  let result: Awaited<ReturnType<typeof downgradeTo7bit>>;
  try {
    result = await downgradeTo7bit(job.body);
  } catch (err) {
    // A fault of ours, not of the message: try again later rather than bounce.
    const text = `cannot convert the message to 7 bits for ${peerName}: ${(err as Error).message}`;
    return { ok: false, reply: { code: 451, enhanced: "4.3.0", text } };
  }
  if (result.kind === "impossible") {
    const text = `Conversion required and prohibited: ${peerName} does not announce 8BITMIME, and ${result.reason}`;
    return { ok: false, reply: { code: 554, enhanced: "5.6.3", text } };
  }
  const body = result.kind === "converted" ? result.body : job.body;
  const downgradedParts = result.kind === "converted" ? result.parts : 0;
  return { ok: true, body, eightBitMime: false, smtpUtf8, downgradedParts };
}
