import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { dkimVerify } from "mailauth/lib/dkim/verify.js";

import type { DkimSignerConfig } from "../config/types.ts";
import { dkimRecord, generateDkimKey, txtStrings } from "./keys.ts";
import { authorDomain, createDkimSigner, matches } from "./signer.ts";

const dir = mkdtempSync(join(tmpdir(), "mailfleet-dkim-signer-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a new key; returns its signer config and the TXT record (as DNS character-strings). */
function newSigner(
  domain: string,
  selector: string,
  type: "rsa" | "ed25519",
  over: Partial<DkimSignerConfig> = {},
): { config: DkimSignerConfig; txt: string[] } {
  const { pem, key } = generateDkimKey(type);
  const keyFile = join(dir, `${selector}.${domain}.pem`);
  writeFileSync(keyFile, pem, { mode: 0o600 });
  const config: DkimSignerConfig = {
    domain,
    selector,
    keyFile,
    algorithm: null,
    headers: null,
    match: [domain, `.${domain}`],
    ...over,
  };
  return { config, txt: txtStrings(dkimRecord(key)) };
}

function message(from: string, body = "Hello.\r\n"): Buffer {
  return Buffer.from(
    `From: Sender <${from}>\r\nTo: rcpt@example.net\r\nSubject: test\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@x.test>\r\n\r\n${body}`,
  );
}

function resolverFor(records: Record<string, string[]>) {
  return async (name: string, type: string) => {
    const txt = records[name.toLowerCase()];
    if (type !== "TXT" || !txt)
      throw Object.assign(new Error(`no ${type} for ${name}`), { code: "ENOTFOUND" });
    return [txt];
  };
}

const rsa = newSigner("example.com", "s1", "rsa");
const ed = newSigner("example.com", "e1", "ed25519");
const esp = newSigner("esp.example", "esp", "rsa", { match: "all" });
const records = {
  "s1._domainkey.example.com": rsa.txt,
  "e1._domainkey.example.com": ed.txt,
  "esp._domainkey.esp.example": esp.txt,
};

describe("DKIM signer", () => {
  test("RSA-2048 + Ed25519 + an ESP signer with match: all: three signatures mailauth verifies", async () => {
    const signer = createDkimSigner({ signers: [rsa.config, ed.config, esp.config] });
    assert.ok(signer);
    const result = await signer.sign(
      { id: "Q1", sender: "bounce@esp.example" },
      message("a@news.example.com"),
    );
    assert.ok(result.ok);
    assert.deepEqual(result.signatures, [
      "d=example.com s=s1 a=rsa-sha256",
      "d=example.com s=e1 a=ed25519-sha256",
      "d=esp.example s=esp a=rsa-sha256",
    ]);
    const verified = await dkimVerify(result.body, { resolver: resolverFor(records) });
    const got = verified.results.map((r) => `${r.signingDomain} ${r.status.result}`).sort();
    assert.deepEqual(got, ["esp.example pass", "example.com pass", "example.com pass"]);
    const algorithms = verified.results.map((r) => (r as { algo?: string }).algo).sort();
    assert.deepEqual(algorithms, ["ed25519-sha256", "rsa-sha256", "rsa-sha256"]);
  });

  test("signers are chosen by the From: domain; none matching leaves the body as it is", async () => {
    const signer = createDkimSigner({ signers: [rsa.config, ed.config] });
    assert.ok(signer);
    const other = message("a@other.test");
    const none = await signer.sign({ id: "Q2", sender: "x@example.com" }, other);
    assert.ok(none.ok);
    assert.equal(none.body, other, "not signed: the author is not of example.com");
    assert.equal(signer.computed, 0);
    // No From: at all: the envelope sender's domain decides.
    const bare = Buffer.from("Subject: no author\r\n\r\nHi\r\n");
    const byEnvelope = await signer.sign({ id: "Q3", sender: "x@example.com" }, bare);
    assert.ok(byEnvelope.ok);
    assert.equal(byEnvelope.signatures.length, 2);
  });

  test("a configured header list becomes h=", async () => {
    const only = { ...rsa.config, headers: ["From", "Subject"] };
    const signer = createDkimSigner({ signers: [only] });
    const result = await signer!.sign({ id: "Q4", sender: "" }, message("a@example.com"));
    assert.ok(result.ok);
    const h = /\bh=([^;]*);/.exec(result.body.toString())?.[1] ?? "";
    assert.deepEqual(
      h
        .split(":")
        .map((f) => f.trim().toLowerCase())
        .sort(),
      ["from", "subject"],
    );
    const verified = await dkimVerify(result.body, { resolver: resolverFor(records) });
    assert.equal(verified.results[0]?.status.result, "pass");
  });

  test("one signature per distinct body: the same bytes reuse it, other bytes get their own", async () => {
    const signer = createDkimSigner({ signers: [rsa.config] });
    assert.ok(signer);
    const body = message("a@example.com");
    const first = signer.sign({ id: "Q5", sender: "" }, body);
    const second = signer.sign({ id: "Q5", sender: "" }, Buffer.from(body));
    const [a, b] = await Promise.all([first, second]);
    assert.ok(a.ok && b.ok);
    assert.deepEqual(a.body, b.body);
    assert.equal(signer.computed, 1);
    const downgraded = await signer.sign(
      { id: "Q5", sender: "" },
      message("a@example.com", "Hell=C3=B6.\r\n"),
    );
    assert.ok(downgraded.ok);
    assert.equal(signer.computed, 2);
    const verified = await dkimVerify(downgraded.body, { resolver: resolverFor(records) });
    assert.equal(verified.results[0]?.status.result, "pass");
  });

  test("a signature of changed bytes fails verification (the check is real)", async () => {
    const signer = createDkimSigner({ signers: [rsa.config] });
    const result = await signer!.sign({ id: "Q6", sender: "" }, message("a@example.com"));
    assert.ok(result.ok);
    const tampered = Buffer.from(result.body.toString().replace("Hello.", "Hullo."));
    const verified = await dkimVerify(tampered, { resolver: resolverFor(records) });
    assert.notEqual(verified.results[0]?.status.result, "pass");
  });

  test("no signers: no signer", () => {
    assert.equal(createDkimSigner({ signers: [] }), null);
  });

  test("matching and author domains", () => {
    assert.ok(matches("all", "x.test"));
    assert.ok(matches(["example.com", ".example.com"], "news.example.com"));
    assert.ok(!matches(["example.com", ".example.com"], "badexample.com"));
    assert.ok(!matches(["example.com"], "news.example.com"));
    const from = (field: string) => authorDomain(Buffer.from(`${field}\r\nTo: x@y\r\n\r\nbody\r\n`));
    assert.equal(from('From: "Doe, <J>" <J@Example.COM>'), "example.com");
    assert.equal(from("From: j@example.org (John)"), "example.org");
    assert.equal(from("FROM:\r\n  <j@folded.test>"), "folded.test");
    assert.equal(from("Subject: no from"), null);
  });
});
