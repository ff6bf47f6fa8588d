import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { createSecureContext } from "node:tls";
import { createSelfSigned } from "./self-signed.ts";

describe("self-signed development certificate", () => {
  it("is an X.509 v3 server certificate for the host name, localhost and loopback, valid a year", () => {
    const now = new Date("2030-01-01T00:00:00Z");
    const { keyPem, certPem } = createSelfSigned({ hostname: "mx.example.test", now });
    const cert = new X509Certificate(certPem);
    assert.equal(cert.subject, "CN=mx.example.test");
    assert.equal(cert.issuer, "CN=mx.example.test");
    assert.equal(
      cert.subjectAltName,
      "DNS:mx.example.test, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
    );
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
    assert.equal(new Date(cert.validTo).getTime() - now.getTime(), 365 * 86_400_000);
    assert.ok(cert.checkHost("mx.example.test"));
    assert.ok(cert.checkIP("127.0.0.1"));
    assert.ok(cert.verify(cert.publicKey), "self-signed: verifies with its own key");
    assert.equal(createPrivateKey(keyPem).asymmetricKeyType, "ec");
    assert.ok(cert.checkPrivateKey(createPrivateKey(keyPem)));
    createSecureContext({ key: keyPem, cert: certPem }); // node's TLS takes the pair
  });

  it("makes a new key and serial number every time", () => {
    const a = createSelfSigned({ hostname: "a.test" });
    const b = createSelfSigned({ hostname: "a.test" });
    assert.notEqual(a.keyPem, b.keyPem);
    assert.notEqual(new X509Certificate(a.certPem).serialNumber, new X509Certificate(b.certPem).serialNumber);
  });
});
