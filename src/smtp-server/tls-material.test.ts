import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createSelfSigned } from "./self-signed.ts";
import { loadTlsMaterial } from "./tls-material.ts";

describe("loadTlsMaterial", () => {
  const dir = mkdtempSync(join(tmpdir(), "mf-tls-material-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const pair = createSelfSigned({ hostname: "a.test" });
  const other = createSelfSigned({ hostname: "b.test" });
  writeFileSync(join(dir, "cert.pem"), pair.certPem);
  writeFileSync(join(dir, "key.pem"), pair.keyPem);
  writeFileSync(join(dir, "other.pem"), other.keyPem);

  it("reads a matching pair", () => {
    const material = loadTlsMaterial({ certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") });
    assert.equal(material.cert, pair.certPem);
  });

  it("names the file that is missing, or both files when they do not match", () => {
    assert.throws(
      () => loadTlsMaterial({ certFile: join(dir, "nope.pem"), keyFile: join(dir, "key.pem") }),
      /cannot read TLS certificate .*nope\.pem: ENOENT/,
    );
    assert.throws(
      () => loadTlsMaterial({ certFile: join(dir, "cert.pem"), keyFile: join(dir, "other.pem") }),
      /TLS certificate .*cert\.pem and key .*other\.pem do not work together/,
    );
  });
});
