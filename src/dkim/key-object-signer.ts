/**
 * mailauth's DKIM signer (message parsing, relaxed canonicalization, body hash, header field
 * formatting) with the last step, the signature itself, made with our parsed KeyObject.
 * mailauth's `dkimSign` takes PEM and imports it for every message; a freshly imported RSA key
 * also loses OpenSSL's precomputed Montgomery values, so for RSA-2048 the import costs as much
 * as the signature (measured by bench/dkim-sign.ts). Same bytes out as `dkimSign` otherwise:
 * relaxed/relaxed, sha256, DKIM-Signature fields in the order of `entries`.
 */
import { createHash, type KeyObject, sign } from "node:crypto";

import { DkimSigner, type SignatureDataEntry } from "mailauth/lib/dkim/dkim-signer.js";
import { generateCanonicalizedHeader } from "mailauth/lib/dkim/header/index.js";
import { formatSignatureHeaderLine, getSigningHeaderLines, writeToStream } from "mailauth/lib/tools.js";

import type { DkimAlgorithm } from "../config/types.ts";

export interface KeyedSignature {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  key: KeyObject;
}

const CANONICALIZATION = "relaxed/relaxed";

class KeyObjectDkimSigner extends DkimSigner {
  readonly #keys: KeyedSignature[];

  constructor(keys: KeyedSignature[], headerList: string | undefined) {
    // The base class sets up one body hasher per canonicalization/hash for entries with a key.
    const signatureData: SignatureDataEntry[] = keys.map((k) => ({
      signingDomain: k.domain,
      selector: k.selector,
      privateKey: k.key,
      algorithm: k.algorithm,
    }));
    super({ canonicalization: CANONICALIZATION, ...(headerList ? { headerList } : {}), signatureData });
    this.#keys = keys;
  }

  override async finalize(): Promise<void> {
    if (!this.headers) return;
    const lines = getSigningHeaderLines(this.headers.parsed, this.headerList);
    for (const [i, k] of this.#keys.entries()) {
      const entry = this.signatureData[i]!;
      try {
        const { bodyCanon } = this.getCanonicalization(entry);
        const bodyHash =
          this.bodyHashes.get(`${bodyCanon}:sha256:${entry.maxBodyLength ?? ""}`)?.hash ?? null;
        if (bodyHash === null) throw new Error("no body hash computed");
        const { canonicalizedHeader, dkimHeaderOpts } = generateCanonicalizedHeader("DKIM", lines, {
          ...entry,
          algorithm: k.algorithm,
          canonicalization: CANONICALIZATION,
          signTime: this.signTime,
          expires: this.expires,
          bodyHash,
        });
        // RFC 8463: Ed25519 signs the SHA-256 of the canonicalized header (PureEdDSA over it).
        const signature =
          k.algorithm === "rsa-sha256"
            ? sign("sha256", canonicalizedHeader, k.key)
            : sign(null, createHash("sha256").update(canonicalizedHeader).digest(), k.key);
        dkimHeaderOpts.b = signature.toString("base64");
        this.signatureHeaders.push(formatSignatureHeaderLine("DKIM", dkimHeaderOpts, true));
      } catch (err) {
        this.errors.push({ err: err as Error, selector: k.selector, signingDomain: k.domain });
      }
    }
  }
}

/**
 * The DKIM-Signature fields (folded, CRLF between them, none at the end) for `message`, one per
 * key in order. `headerList`: colon-separated field names (h=), or mailauth's default list.
 */
export async function signWithKeys(
  message: Buffer,
  keys: KeyedSignature[],
  headerList?: string,
): Promise<{ ok: true; fields: string[] } | { ok: false; reason: string }> {
  const signer = new KeyObjectDkimSigner(keys, headerList);
  await writeToStream(signer, message);
  const failure = signer.errors[0];
  if (failure) {
    const who = `d=${failure.signingDomain ?? "?"} s=${failure.selector ?? "?"}`;
    return { ok: false, reason: `DKIM signing failed for ${who}: ${failure.err.message}` };
  }
  if (signer.signatureHeaders.length !== keys.length)
    return { ok: false, reason: "DKIM signing failed: the message has no header section" };
  return { ok: true, fields: signer.signatureHeaders };
}
