/**
 * DKIM signing of outgoing mail (RFC 6376, RFC 8463) with mailauth's signer (through
 * key-object-signer.ts, which signs with the parsed keys). It signs the exact bytes
 * about to be sent to a peer, after outbound-message.ts settled them (an 8-bit body downgraded
 * to quoted-printable is signed as converted), and prepends one DKIM-Signature per matching
 * signer. Which signers match is decided by the author (From:) domain, or the envelope sender's
 * domain when the message has no usable From:.
 *
 * Keys are parsed once (keys.ts) when the signer is built. Signatures are cached per message
 * and body bytes for a short while, so a message going to several sites in one round, or over
 * several transactions, is signed once per distinct body. Results are data: a failure to sign
 * comes back as `{ ok: false }` for the caller to defer the message with.
 */
import { createHash } from "node:crypto";

import type { DkimConfig } from "../config/types.ts";
import { signWithKeys } from "./key-object-signer.ts";
import { type LoadedSigner, loadSigners } from "./keys.ts";

export type SignResult =
  | {
      ok: true;
      /** The body with the DKIM-Signature fields in front; the body itself when none matched. */
      body: Buffer;
      /** "d=domain s=selector a=algorithm" of each signature added, for the log. */
      signatures: string[];
    }
  | { ok: false; reason: string };

export interface DkimSigner {
  /** Signs `body` for every matching signer. Never rejects. */
  sign(message: { id: string; sender: string }, body: Buffer): Promise<SignResult>;
  /** How many signatures were computed (cache misses), for tests and metrics. */
  readonly computed: number;
}

export interface DkimSignerOptions {
  /** Signatures kept for reuse (default 1024 entries). */
  cacheEntries?: number;
  /** How long a cached signature is reused (default 10 minutes). */
  cacheTtlMs?: number;
  now?: () => number;
}

/**
 * Builds the signer of an instance's `dkim` config, reading its key files now; throws a
 * DkimKeyError naming the file when one is missing or bad. Null when there are no signers.
 */
export function createDkimSigner(config: DkimConfig, options: DkimSignerOptions = {}): DkimSigner | null {
  if (config.signers.length === 0) return null;
  const signers = loadSigners(config.signers);
  const maxEntries = options.cacheEntries ?? 1024;
  const ttlMs = options.cacheTtlMs ?? 600_000;
  const now = options.now ?? Date.now;
  // Only the signature fields are kept (a few hundred bytes each), never the message.
  const cache = new Map<string, { at: number; fields: Promise<Signed> }>();
  let computed = 0;

  return {
    get computed() {
      return computed;
    },
    async sign(message, body) {
      const domain = authorDomain(body) ?? domainOf(message.sender);
      const matching = domain === null ? [] : signers.filter((s) => matches(s.config.match, domain));
      if (matching.length === 0) return { ok: true, body, signatures: [] };
      const key = `${message.id}:${body.length}:${createHash("sha256").update(body).digest("base64")}`;
      const at = now();
      let entry = cache.get(key);
      if (!entry || at - entry.at >= ttlMs) {
        computed++;
        entry = { at, fields: signWith(matching, body) };
        cache.delete(key);
        cache.set(key, entry);
        for (const old of cache.keys()) {
          if (cache.size <= maxEntries) break;
          cache.delete(old);
        }
      }
      const signed = await entry.fields;
      if (!signed.ok) {
        if (cache.get(key) === entry) cache.delete(key); // the next attempt tries afresh
        return signed;
      }
      return { ok: true, body: Buffer.concat([signed.header, body]), signatures: signed.signatures };
    },
  };
}

type Signed = { ok: true; header: Buffer; signatures: string[] } | { ok: false; reason: string };

/** One signing pass per distinct header list (mailauth's signer takes one list per pass). */
async function signWith(signers: LoadedSigner[], body: Buffer): Promise<Signed> {
  const groups = new Map<string, LoadedSigner[]>();
  for (const s of signers) {
    const list = s.config.headers?.join(":") ?? "";
    groups.set(list, [...(groups.get(list) ?? []), s]);
  }
  const fields: string[] = [];
  try {
    for (const [headerList, group] of groups) {
      const keys = group.map((s) => ({
        domain: s.config.domain,
        selector: s.config.selector,
        algorithm: s.algorithm,
        key: s.key,
      }));
      const result = await signWithKeys(body, keys, headerList === "" ? undefined : headerList);
      if (!result.ok) return result;
      fields.push(...result.fields);
    }
  } catch (err) {
    return { ok: false, reason: `DKIM signing failed: ${(err as Error).message}` };
  }
  return {
    ok: true,
    header: Buffer.from(`${fields.join("\r\n")}\r\n`),
    signatures: [...groups.values()]
      .flat()
      .map((s) => `d=${s.config.domain} s=${s.config.selector} a=${s.algorithm}`),
  };
}

/** Whether a signer with this `match` signs mail of `domain` (lower-case). */
export function matches(match: "all" | readonly string[], domain: string): boolean {
  if (match === "all") return true;
  return match.some((m) => (m.startsWith(".") ? domain.endsWith(m) : domain === m));
}

/** The domain of the first address in the From: field, lower-case; null when there is none. */
export function authorDomain(message: Buffer): string | null {
  const end = message.indexOf("\r\n\r\n");
  const head = message.subarray(0, end < 0 ? Math.min(message.length, 65_536) : end + 2).toString("latin1");
  const field = /(?:^|\r\n)From[ \t]*:((?:[^\r\n]|\r\n[ \t])*)/i.exec(head);
  if (!field) return null;
  const text = field[1]!.replace(/\r\n/g, "").replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const angle = /<([^<>]*)>/.exec(text);
  const address = angle ? angle[1]! : text.replace(/\([^()]*\)/g, "").split(",")[0]!;
  return domainOf(address.trim());
}

function domainOf(address: string): string | null {
  const at = address.lastIndexOf("@");
  if (at < 0) return null;
  const domain = address
    .slice(at + 1)
    .trim()
    .replace(/[\s>;].*$/, "")
    .replace(/\.$/, "")
    .toLowerCase();
  return domain === "" ? null : domain;
}
