/**
 * Password hashes for the submission users file: scrypt (RFC 7914) from node:crypto, with a
 * random 16-byte salt per password, written as
 *
 *   $scrypt$N=16384,r=8,p=1$<salt, base64>$<32-byte key, base64>
 *
 * so the cost parameters travel with each hash and can be raised later without breaking old
 * entries. scrypt is memory-hard (16 MiB per check at these settings), which makes guessing on
 * GPUs expensive, and node:crypto runs it on the libuv thread pool, off the event loop.
 * Comparison is constant-time (timingSafeEqual).
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

export interface PasswordHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const HASH_RE = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
/** Refuse absurd costs from a tampered file: they would tie up the thread pool (or memory). */
const MAX_N = 1 << 20;

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes; node's default maxmem (32 MiB) is too small above N=2^14.
  const maxmem = 256 * params.N * params.r + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, length, { ...params, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** A new hash with a fresh random salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return formatHash({ params, salt, key });
}

export function formatHash(hash: PasswordHash): string {
  const { N, r, p } = hash.params;
  return `$scrypt$N=${N},r=${r},p=${p}$${hash.salt.toString("base64")}$${hash.key.toString("base64")}`;
}

/** The parsed hash, or null when the text is not one of ours (or has unreasonable parameters). */
export function parseHash(text: string): PasswordHash | null {
  const match = HASH_RE.exec(text);
  if (!match) return null;
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const powerOfTwo = N > 1 && (N & (N - 1)) === 0;
  if (!powerOfTwo || N > MAX_N || r < 1 || r > 32 || p < 1 || p > 16) return null;
  const salt = Buffer.from(match[4]!, "base64");
  const key = Buffer.from(match[5]!, "base64");
  if (salt.length < 8 || key.length < 16) return null;
  return { params: { N, r, p }, salt, key };
}

/** True when `password` produces `hash`; always does the full scrypt work. */
export async function verifyPassword(password: string, hash: PasswordHash): Promise<boolean> {
  const key = await derive(password, hash.salt, hash.params, hash.key.length);
  return timingSafeEqual(key, hash.key);
}
