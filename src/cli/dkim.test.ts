import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { runCli } from "../../test/support/mailfleet-process.ts";
import { parseDkimKey } from "../dkim/keys.ts";

const dir = mkdtempSync(join(tmpdir(), "mailfleet-cli-dkim-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("mailfleet dkim keygen", () => {
  test("writes an RSA-2048 key (0600), prints the split TXT record and the config line", async () => {
    const out = await runCli(["dkim", "keygen", "--domain", "Example.com", "--selector", "s1", "--out", dir]);
    assert.equal(out.code, 0, out.stderr);
    const keyFile = join(dir, "example.com.s1.pem");
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const { key, algorithm } = parseDkimKey(readFileSync(keyFile, "utf8"), null);
    assert.equal(algorithm, "rsa-sha256");
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    const record = /^s1\._domainkey\.example\.com\. IN TXT (.*)$/m.exec(out.stdout)?.[1] ?? "";
    const strings = [...record.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
    assert.ok(strings.length === 2 && strings.every((s) => s.length <= 255), record);
    assert.match(strings.join(""), /^v=DKIM1; k=rsa; p=MII/);
    assert.match(out.stdout, /- \{ domain: example\.com, selector: s1, key_file: .*example\.com\.s1\.pem/);

    const again = await runCli([
      "dkim",
      "keygen",
      "--domain",
      "example.com",
      "--selector",
      "s1",
      "--out",
      dir,
    ]);
    assert.equal(again.code, 75, "an existing key is not replaced without --force");
    assert.match(again.stderr, /exists: use --force/);
  });

  test("Ed25519, and usage errors", async () => {
    const ed = await runCli([
      "dkim",
      "keygen",
      "--domain",
      "example.com",
      "--selector",
      "e1",
      "--algorithm",
      "ed25519",
      "--out",
      dir,
    ]);
    assert.equal(ed.code, 0, ed.stderr);
    assert.match(
      ed.stdout,
      /^e1\._domainkey\.example\.com\. IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="$/m,
    );
    for (const args of [
      ["keygen", "--selector", "s1"],
      ["keygen", "--domain", "example.com"],
      ["keygen", "--domain", "example.com", "--selector", "s1", "--algorithm", "dsa"],
      ["generate"],
    ]) {
      const bad = await runCli(["dkim", ...args, "--out", dir]);
      assert.equal(bad.code, 64, `${args.join(" ")}: ${bad.stderr}`);
    }
  });
});
