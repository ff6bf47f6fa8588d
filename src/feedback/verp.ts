/**
 * VERP return paths: the envelope sender of outbound mail becomes `LOCAL+TOKEN@DOMAIN`, so an
 * asynchronous bounce or a feedback-loop report names the message it is about. TOKEN is the queue
 * id (20 base32 characters), then base32 of the recipient index (2 bytes, 0xFFFF = the whole
 * transaction) and a 10-byte HMAC-SHA256 over both under the instance's secret, so a token
 * cannot be made up or altered. Tenant, source IP, transport and provider are not in the token:
 * with an IPv6 address and a tenant name it would pass the 64-octet local-part limit of RFC 5321
 * 4.5.3.1.1; they are kept in the attribution store under the queue id instead.
 * Tokens are lower case: some receivers fold the local part's case, so decoding ignores it.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Recipient index meaning "every recipient of that transaction". */
export const ANY_RECIPIENT = 0xffff;
const MAC_BYTES = 10;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

export interface VerpSettings {
  domain: string;
  localPart: string;
  secret: Buffer;
}

export interface VerpToken {
  queueId: string;
  /** ANY_RECIPIENT when the transaction had several recipients. */
  recipientIndex: number;
}

export function base32Encode(data: Buffer): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Buffer | null {
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text.toLowerCase()) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return null;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

function mac(secret: Buffer, queueId: string, index: number): Buffer {
  return createHmac("sha256", secret)
    .update(`${queueId.toUpperCase()}:${index}`)
    .digest()
    .subarray(0, MAC_BYTES);
}

export function encodeToken(secret: Buffer, token: VerpToken): string {
  const tail = Buffer.alloc(2 + MAC_BYTES);
  tail.writeUInt16BE(token.recipientIndex & 0xffff, 0);
  mac(secret, token.queueId, token.recipientIndex).copy(tail, 2);
  return `${token.queueId.toLowerCase()}${base32Encode(tail)}`;
}

/** The token's content, or null when it is malformed or its HMAC does not match. */
export function decodeToken(secret: Buffer, text: string): VerpToken | null {
  if (!/^[0-9a-z]{20}[a-z2-7]{20}$/i.test(text)) return null;
  const queueId = text.slice(0, 20).toUpperCase();
  const tail = base32Decode(text.slice(20));
  if (tail === null || tail.length !== 2 + MAC_BYTES) return null;
  const recipientIndex = tail.readUInt16BE(0);
  const expected = mac(secret, queueId, recipientIndex);
  if (!timingSafeEqual(expected, tail.subarray(2))) return null;
  return { queueId, recipientIndex };
}

/** The VERP envelope sender for a transaction. */
export function verpAddress(settings: VerpSettings, token: VerpToken): string {
  return `${settings.localPart}+${encodeToken(settings.secret, token)}@${settings.domain}`;
}

/** Finds and checks a VERP address of ours anywhere in `text` (an address, a header, a report). */
export function findToken(settings: VerpSettings, text: string): VerpToken | null {
  const local = settings.localPart.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const domain = settings.domain.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`${local}\\+([0-9a-z]{40})@${domain}`, "gi");
  for (const m of text.matchAll(re)) {
    const token = decodeToken(settings.secret, m[1]!);
    if (token) return token;
  }
  return null;
}
