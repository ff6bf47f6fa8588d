import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import type { DkimSignerConfig } from "../config/types.ts";
import { DkimKeyError, dkimRecord, generateDkimKey, loadSigners, txtStrings } from "./keys.ts";

const dir = mkdtempSync(join(tmpdir(), "mailfleet-dkim-keys-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function signer(keyFile: string, over: Partial<DkimSignerConfig> = {}): DkimSignerConfig {
  return {
    domain: "example.com",
    selector: "s1",
    keyFile,
    algorithm: null,
    headers: null,
    match: "all",
    ...over,
  };
}

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe("DKIM keys", () => {
  const rsa = write("rsa.pem", generateDkimKey("rsa").pem);
  const ed = write("ed.pem", generateDkimKey("ed25519").pem);

  test("RSA and Ed25519 keys load into KeyObjects, algorithm from the key type", () => {
    const [a, b] = loadSigners([signer(rsa), signer(ed, { selector: "e1" })]);
    assert.equal(a?.algorithm, "rsa-sha256");
    assert.equal(a?.key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(b?.algorithm, "ed25519-sha256");
    assert.equal(b?.key.asymmetricKeyType, "ed25519");
  });

  test("a missing file, a non-key, a wrong algorithm, a small or unsupported key name the file", () => {
    const cases: [string, DkimSignerConfig, RegExp][] = [
      ["missing", signer(join(dir, "nope.pem")), /nope\.pem: no such file/],
      ["garbage", signer(write("garbage.pem", "hello\n")), /garbage\.pem: not a PEM private key/],
      [
        "algorithm",
        signer(rsa, { algorithm: "ed25519-sha256" }),
        /rsa\.pem: algorithm ed25519-sha256 does not fit its rsa key/,
      ],
      [
        "small",
        signer(
          write(
            "small.pem",
            generateKeyPairSync("rsa", { modulusLength: 512 }).privateKey.export({
              format: "pem",
              type: "pkcs8",
            }) as string,
          ),
        ),
        /small\.pem: an RSA key of 512 bits/,
      ],
      [
        "ec",
        signer(
          write(
            "ec.pem",
            generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({
              format: "pem",
              type: "pkcs8",
            }) as string,
          ),
        ),
        /ec\.pem: a ec key/,
      ],
    ];
    for (const [name, config, message] of cases) {
      assert.throws(
        () => loadSigners([config]),
        (err: unknown) => {
          assert.ok(err instanceof DkimKeyError, name);
          assert.match(err.message, message, name);
          assert.equal(err.file, config.keyFile);
          return true;
        },
      );
    }
  });

  test("the TXT record publishes the public key; long values split into 255-char strings", () => {
    const rsaKey = generateDkimKey("rsa").key;
    const record = dkimRecord(rsaKey);
    assert.match(record, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{390,}$/);
    const parts = txtStrings(record);
    assert.ok(parts.length >= 2 && parts.every((p) => p.length <= 255));
    assert.equal(parts.join(""), record);
    const edRecord = dkimRecord(generateDkimKey("ed25519").key);
    assert.match(edRecord, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(txtStrings(edRecord), [edRecord]);
  });
});
