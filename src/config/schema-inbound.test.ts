import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";

import { createSelfSigned } from "../smtp-server/self-signed.ts";
import { formatConfigError } from "./errors.ts";
import { parseConfig } from "./load.ts";

const dir = mkdtempSync(join(tmpdir(), "mf-inbound-config-"));
const pair = createSelfSigned({ hostname: "mx.example" });
const other = createSelfSigned({ hostname: "other.example" });
writeFileSync(join(dir, "cert.pem"), pair.certPem);
writeFileSync(join(dir, "key.pem"), pair.keyPem);
writeFileSync(join(dir, "other-key.pem"), other.keyPem);

function parsed(text: string) {
  const result = parseConfig(text, "mf.yaml", dir, { defaultHostname: "mx.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result;
}

function errorsOf(text: string): string[] {
  const result = parseConfig(text, "mf.yaml", dir, { defaultHostname: "mx.example" });
  assert.equal(result.ok, false, "expected the file to be refused");
  return result.ok ? [] : result.errors.map(formatConfigError);
}

describe("inbound config: tls, auth, listen items, relay.local_domains, limits", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("tls and auth paths resolve against the config directory; listen takes the object form", () => {
    const { config } = parsed(
      [
        'listen: ["127.0.0.1:2525", { address: "127.0.0.1:2465", tls: implicit }, { address: "[::1]:2526", tls: none }]',
        "tls: { cert: cert.pem, key: key.pem }",
        "auth: { users_file: users }",
        "relay: { local_domains: [Bounces.Example.COM, .fbl.example.com] }",
      ].join("\n"),
    );
    assert.deepEqual(config.listen, [
      { host: "127.0.0.1", port: 2525 },
      { host: "127.0.0.1", port: 2465, tls: "implicit" },
      { host: "::1", port: 2526, tls: "none" },
    ]);
    assert.deepEqual(config.tls, { certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") });
    assert.deepEqual(config.auth, {
      usersFile: join(dir, "users"),
      maxFailures: 5,
      failureWindowMs: 300_000,
    });
    assert.deepEqual(config.relay.localDomains, ["bounces.example.com", ".fbl.example.com"]);
  });

  test("a missing certificate or key file is an error at its line", () => {
    const errors = errorsOf("hostname: mx.example\ntls:\n  cert: nope.pem\n  key: gone.pem\n");
    assert.equal(errors.length, 2, errors.join("\n"));
    assert.match(
      errors[0]!,
      /^mf\.yaml:3:9: tls\.cert: found "nope\.pem", expected a readable certificate file \(ENOENT: .*nope\.pem'\)$/,
    );
    assert.match(
      errors[1]!,
      /^mf\.yaml:4:8: tls\.key: found "gone\.pem", expected a readable private key file \(ENOENT/,
    );
  });

  test("a key that does not belong to the certificate is refused", () => {
    const [error] = errorsOf("tls: { cert: cert.pem, key: other-key.pem }\n");
    assert.match(
      error ?? "",
      /^mf\.yaml:1:14: tls\.cert: found "cert\.pem", expected a PEM certificate that matches tls\.key \(.*key values mismatch/,
    );
  });

  test("auth needs tls; an implicit-TLS listener needs tls", () => {
    assert.deepEqual(errorsOf("auth: { users_file: users }\n"), [
      "mf.yaml:1:7: auth: found a map, expected a tls: { cert, key } section as well (AUTH is only offered over TLS)",
    ]);
    assert.deepEqual(errorsOf('listen: [{ address: "127.0.0.1:2465", tls: implicit }]\n'), [
      'mf.yaml:1:44: listen.0.tls: found "implicit", expected a tls: { cert, key } section for an implicit-TLS listener',
    ]);
  });

  test("bad values name what is expected", () => {
    const errors = errorsOf(
      'relay: { local_domains: ["not a domain"] }\nlisten: [{ address: "x:1", tls: maybe }]\nlimits: { max_errors: 0 }\n',
    );
    assert.equal(errors.length, 3, errors.join("\n"));
    assert.match(errors.join("\n"), /relay\.local_domains\.0: found "not a domain", expected a domain/);
    assert.match(errors.join("\n"), /listen\.0/);
    assert.match(errors.join("\n"), /limits\.max_errors: found 0, expected an integer >= 1/);
  });

  test("greet_pause defaults to 1s for the input role and 0 elsewhere", () => {
    const { fleet } = parsed(
      [
        "instances:",
        "  in: { role: input, listen: ['127.0.0.1:2525'] }",
        "  sub: { role: submission, listen: ['127.0.0.1:2587'] }",
        "  out: { role: output, listen: ['127.0.0.1:10025'], limits: { greet_pause: 250ms } }",
      ].join("\n"),
    );
    assert.equal(fleet.instances.in?.limits.greetPauseMs, 1000);
    assert.equal(fleet.instances.sub?.limits.greetPauseMs, 0);
    assert.equal(fleet.instances.out?.limits.greetPauseMs, 250);
  });

  test("a relaying instance hands over to a plain listener of its target, not an implicit-TLS one", () => {
    const { fleet } = parsed(
      [
        "instances:",
        "  sub: { role: submission, listen: ['127.0.0.1:2587'] }",
        "  out:",
        "    role: output",
        "    tls: { cert: cert.pem, key: key.pem }",
        "    listen: [{ address: '127.0.0.1:10465', tls: implicit }, '127.0.0.1:10025']",
      ].join("\n"),
    );
    const relay = fleet.instances.sub?.transports["relay-to-out"];
    assert.deepEqual(relay?.nexthop, { kind: "host", host: "127.0.0.1", port: 10025, lookupMx: false });
  });
});
