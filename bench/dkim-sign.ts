/**
 * Cost of DKIM signing per message on this machine, through mailfleet's own signer (cache
 * misses only: every message has its own id). Not part of `npm run bench`; run it alone:
 *   node bench/dkim-sign.ts [MESSAGES] [BODY_BYTES]
 * It prints microseconds per message for RSA-2048, Ed25519, and both at once, next to the raw
 * RSA-2048 signature (crypto.sign) that is the floor and mailauth's `dkimSign` given the PEM
 * (which imports the key for every message: what the cached KeyObject saves).
 */
import { sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { dkimSign } from "mailauth/lib/dkim/sign.js";

import type { DkimSignerConfig } from "../src/config/types.ts";
import { generateDkimKey } from "../src/dkim/keys.ts";
import { createDkimSigner } from "../src/dkim/signer.ts";

const messages = Number(process.argv[2] ?? 300);
const bodyBytes = Number(process.argv[3] ?? 4096);
const dir = mkdtempSync(join(tmpdir(), "mailfleet-dkim-bench-"));
try {
  const keys = { rsa: generateDkimKey("rsa"), ed25519: generateDkimKey("ed25519") };
  const signer = (type: "rsa" | "ed25519", selector: string): DkimSignerConfig => {
    const keyFile = join(dir, `${selector}.pem`);
    writeFileSync(keyFile, keys[type].pem);
    return { domain: "example.com", selector, keyFile, algorithm: null, headers: null, match: "all" };
  };
  const line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
  const body = Buffer.from(
    `From: a@example.com\r\nTo: b@example.net\r\nSubject: bench\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\n${line.repeat(Math.ceil(bodyBytes / line.length))}`,
  );
  const time = async (what: string, signers: DkimSignerConfig[]) => {
    const s = createDkimSigner({ signers })!;
    for (let i = 0; i < 20; i++) await s.sign({ id: `warm${i}`, sender: "" }, body);
    const start = performance.now();
    for (let i = 0; i < messages; i++) {
      const r = await s.sign({ id: `m${i}`, sender: "" }, body);
      if (!r.ok) throw new Error(r.reason);
    }
    console.log(
      `${what.padEnd(22)} ${(((performance.now() - start) / messages) * 1000).toFixed(0).padStart(6)} µs/message`,
    );
  };
  console.log(`${messages} messages of ${body.length} bytes, Node ${process.version}`);
  const start = performance.now();
  for (let i = 0; i < messages; i++) sign("sha256", body.subarray(0, 600), keys.rsa.key);
  console.log(
    `${"raw RSA-2048 sign".padEnd(22)} ${(((performance.now() - start) / messages) * 1000).toFixed(0).padStart(6)} µs/message`,
  );
  const pem = keys.rsa.pem;
  const viaPem = performance.now();
  for (let i = 0; i < messages; i++) {
    const key = { signingDomain: "example.com", selector: "p", privateKey: pem };
    const r = await dkimSign(body, { ...key, signatureData: [key] });
    if (r.errors.length > 0) throw new Error("dkimSign failed");
  }
  console.log(
    `${"RSA-2048 dkimSign(PEM)".padEnd(22)} ${(((performance.now() - viaPem) / messages) * 1000).toFixed(0).padStart(6)} µs/message`,
  );
  await time("RSA-2048 (mailfleet)", [signer("rsa", "r")]);
  await time("Ed25519 (mailfleet)", [signer("ed25519", "e")]);
  await time("RSA + Ed25519 (mf)", [signer("rsa", "r2"), signer("ed25519", "e2")]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
