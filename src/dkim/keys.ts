/**
 * DKIM private keys: read and parsed once (at start and at reload) into KeyObjects, so a
 * missing, unreadable or unusable key stops the instance at start-up with the file's name
 * instead of failing mail one message at a time. Also makes new key pairs and the DNS TXT
 * record that publishes the public half (`mailfleet dkim keygen`).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";

import type { DkimAlgorithm, DkimSignerConfig } from "../config/types.ts";

export type DkimKeyType = "rsa" | "ed25519";

/** RFC 8301 3.2: verifiers must refuse RSA keys under 1024 bits; 2048 is the common size. */
export const MIN_RSA_BITS = 1024;

/** A signer with its key parsed and its algorithm settled. */
export interface LoadedSigner {
  config: DkimSignerConfig;
  key: KeyObject;
  algorithm: DkimAlgorithm;
}

export class DkimKeyError extends Error {
  readonly file: string;
  constructor(file: string, why: string) {
    super(`DKIM key ${file}: ${why}`);
    this.name = "DkimKeyError";
    this.file = file;
  }
}

const ALGORITHM_OF: Record<DkimKeyType, DkimAlgorithm> = { rsa: "rsa-sha256", ed25519: "ed25519-sha256" };

/** Parses PEM text into a private key fit for DKIM; throws a plain Error saying why not. */
export function parseDkimKey(
  pem: string,
  algorithm: DkimAlgorithm | null,
): { key: KeyObject; algorithm: DkimAlgorithm } {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch (err) {
    throw new Error(`not a PEM private key (${(err as Error).message})`);
  }
  const type = key.asymmetricKeyType;
  if (type !== "rsa" && type !== "ed25519")
    throw new Error(`a ${type ?? "unknown"} key; DKIM signs with rsa or ed25519 keys`);
  if (type === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`an RSA key of ${bits} bits; at least ${MIN_RSA_BITS} needed`);
  }
  const own = ALGORITHM_OF[type];
  if (algorithm !== null && algorithm !== own)
    throw new Error(`algorithm ${algorithm} does not fit its ${type} key (use ${own})`);
  return { key, algorithm: own };
}

/** Reads and parses every signer's key; the first bad one throws a DkimKeyError naming its file. */
export function loadSigners(signers: readonly DkimSignerConfig[]): LoadedSigner[] {
  const parsed = new Map<string, string>();
  return signers.map((config) => {
    let text = parsed.get(config.keyFile);
    if (text === undefined) {
      try {
        text = readFileSync(config.keyFile, "utf8");
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new DkimKeyError(config.keyFile, code === "ENOENT" ? "no such file" : (err as Error).message);
      }
      parsed.set(config.keyFile, text);
    }
    try {
      const { key, algorithm } = parseDkimKey(text, config.algorithm);
      return { config, key, algorithm };
    } catch (err) {
      throw new DkimKeyError(config.keyFile, (err as Error).message);
    }
  });
}

/** A new private key as PKCS#8 PEM. */
export function generateDkimKey(type: DkimKeyType): { pem: string; key: KeyObject } {
  const pair =
    type === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ed25519");
  return { pem: pair.privateKey.export({ format: "pem", type: "pkcs8" }) as string, key: pair.privateKey };
}

/**
 * The TXT record value publishing the public half of `key`: RFC 6376 3.6.1 ("p=" is the
 * base64 SubjectPublicKeyInfo for RSA) and RFC 8463 (the raw 32-byte public key for Ed25519).
 */
export function dkimRecord(key: KeyObject): string {
  const pub = createPublicKey(key);
  const der = pub.export({ format: "der", type: "spki" });
  if (key.asymmetricKeyType === "ed25519") {
    return `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString("base64")}`;
  }
  return `v=DKIM1; k=rsa; p=${der.toString("base64")}`;
}

/** Splits a TXT value into the <= 255-byte character-strings one TXT record is made of. */
export function txtStrings(value: string, size = 255): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += size) out.push(value.slice(i, i + size));
  return out.length > 0 ? out : [""];
}
