import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { generateDkimKey } from "../dkim/keys.ts";
import { formatConfigError } from "./errors.ts";
import { parseConfig } from "./load.ts";

const dir = mkdtempSync(join(tmpdir(), "mailfleet-schema-dkim-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "rsa.pem"), generateDkimKey("rsa").pem);
writeFileSync(join(dir, "ed.pem"), generateDkimKey("ed25519").pem);

function errors(text: string): string[] {
  const result = parseConfig(text, "f.yaml", dir, { defaultHostname: "h.example" });
  return result.ok ? [] : result.errors.map(formatConfigError);
}

describe("dkim config", () => {
  test("signers normalise: paths resolved, default match, explicit match and headers", () => {
    const result = parseConfig(
      `dkim:
  signers:
    - { domain: Example.COM, selector: s1, key_file: rsa.pem }
    - { domain: example.com, selector: e1, key_file: ed.pem, algorithm: ed25519-sha256, headers: [From, Subject] }
    - { domain: esp.example, selector: esp, key_file: rsa.pem, match: all }
    - { domain: esp.example, selector: esp2, key_file: rsa.pem, match: [client.test, .client.test] }
`,
      "f.yaml",
      dir,
    );
    if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
    assert.deepEqual(result.config.dkim.signers, [
      {
        domain: "example.com",
        selector: "s1",
        keyFile: join(dir, "rsa.pem"),
        algorithm: null,
        headers: null,
        match: ["example.com", ".example.com"],
      },
      {
        domain: "example.com",
        selector: "e1",
        keyFile: join(dir, "ed.pem"),
        algorithm: "ed25519-sha256",
        headers: ["From", "Subject"],
        match: ["example.com", ".example.com"],
      },
      {
        domain: "esp.example",
        selector: "esp",
        keyFile: join(dir, "rsa.pem"),
        algorithm: null,
        headers: null,
        match: "all",
      },
      {
        domain: "esp.example",
        selector: "esp2",
        keyFile: join(dir, "rsa.pem"),
        algorithm: null,
        headers: null,
        match: ["client.test", ".client.test"],
      },
    ]);
  });

  test("no dkim section: no signers", () => {
    const result = parseConfig("hostname: h.example\n", "f.yaml", dir);
    assert.ok(result.ok);
    assert.deepEqual(result.config.dkim, { signers: [] });
  });

  test("a missing or bad key is reported at its key_file line, naming the file", () => {
    writeFileSync(join(dir, "bad.pem"), "not a key\n");
    const found = errors(`dkim:
  signers:
    - { domain: example.com, selector: s1, key_file: missing.pem }
    - { domain: example.com, selector: s2, key_file: bad.pem }
    - { domain: example.com, selector: s3, key_file: rsa.pem, algorithm: ed25519-sha256 }
`);
    assert.equal(found.length, 3, found.join("\n"));
    assert.match(
      found[0]!,
      /^f\.yaml:3:\d+: dkim\.signers\.0\.key_file: found "missing\.pem", .*\(no such file\)/,
    );
    assert.match(found[1]!, /^f\.yaml:4:\d+: dkim\.signers\.1\.key_file: .*not a PEM private key/);
    assert.match(found[2]!, /^f\.yaml:5:\d+: .*does not fit its rsa key/);
  });

  test("bad values and dkim in a relaying instance are refused", () => {
    assert.match(
      errors("dkim: { signers: [ { domain: x, selector: s1, key_file: rsa.pem } ] }\n")[0] ?? "",
      /domain/,
    );
    assert.match(
      errors("dkim: { signers: [ { domain: a.test, selector: 'bad sel', key_file: rsa.pem } ] }\n")[0] ?? "",
      /selector/,
    );
    assert.match(
      errors(
        "dkim: { signers: [ { domain: a.test, selector: s1, key_file: rsa.pem, algorithm: rsa-sha1 } ] }\n",
      )[0] ?? "",
      /algorithm/,
    );
    const relaying = errors(`instances:
  sub:
    role: submission
    dkim: { signers: [ { domain: a.test, selector: s1, key_file: rsa.pem } ] }
  out:
    role: output
    listen: ["127.0.0.1:10026"]
    dkim: { signers: [ { domain: a.test, selector: s1, key_file: rsa.pem } ] }
`);
    assert.equal(relaying.length, 1, relaying.join("\n"));
    assert.match(relaying[0]!, /instances\.sub\.dkim: .*no dkim in a submission instance/);
  });
});
