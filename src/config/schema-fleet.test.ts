import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { formatConfigError } from "./errors.ts";
import { BUILTIN_FLEET, builtinFleet, parseConfig } from "./load.ts";
import { relayTransportName } from "./schema-fleet.ts";

function fleetOf(text: string) {
  const result = parseConfig(text, "fleet.yaml", "/srv/mf", { defaultHostname: "mx.example" });
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result;
}

function errorsOf(text: string): string[] {
  const result = parseConfig(text, "fleet.yaml", "/srv/mf", { defaultHostname: "mx.example" });
  assert.equal(result.ok, false, "expected the file to be refused");
  return result.ok ? [] : result.errors.map(formatConfigError);
}

describe("fleet form (instances:)", () => {
  test("the built-in pipeline: submission and input relay to output, which alone delivers", () => {
    const fleet = builtinFleet("/srv/mf");
    assert.deepEqual(Object.keys(fleet.instances), Object.keys(BUILTIN_FLEET.instances));
    const { submission, input, output } = fleet.instances;
    assert.deepEqual(submission?.instance, {
      name: "submission",
      role: "submission",
      enabled: true,
      relayTo: "output",
    });
    assert.equal(input?.instance.relayTo, "output");
    assert.equal(output?.instance.relayTo, null);
    assert.equal(submission?.spoolDir, "/srv/mf/var/spool/submission");
    assert.equal(output?.spoolDir, "/srv/mf/var/spool/output");
    assert.equal(fleet.runDir, "/srv/mf/var/run");
    assert.deepEqual(submission?.listen, [{ host: "127.0.0.1", port: 2587 }]);
    assert.deepEqual(output?.listen, [{ host: "127.0.0.1", port: 10025 }]);
    const relay = submission?.transports[relayTransportName("output")];
    assert.deepEqual(relay?.nexthop, { kind: "host", host: "127.0.0.1", port: 10025, lookupMx: false });
    assert.equal(relay?.tls, "none");
    assert.equal(submission?.delivery.defaultTransport, relayTransportName("output"));
    assert.equal(output?.delivery.defaultTransport, "mx");
  });

  test("fleet-wide keys reach every instance; instance keys stay with their instance", () => {
    const { fleet, config } = fleetOf(`
hostname: out.example
dns: { servers: ["127.0.0.1:5353"] }
sources: { a: { address: 127.0.0.2 } }
log: { file: logs/mail.log }
instances:
  sub:
    role: submission
    listen: ["127.0.0.1:3587"]
    limits: { max_recipients: 5 }
  out:
    role: output
    listen: ["127.0.0.1:3025"]
    transports: { bulk: { bind_address: 127.0.0.2 } }
    routes: [{ match: { recipient_domain: big.example }, transport: bulk }]
`);
    const sub = fleet.instances.sub!;
    const out = fleet.instances.out!;
    assert.equal(config, out, "the primary instance is the delivering one");
    for (const c of [sub, out]) {
      assert.equal(c.hostname, "out.example");
      assert.deepEqual(c.dns.servers, [{ host: "127.0.0.1", port: 5353 }]);
      assert.equal(c.sources.a?.address, "127.0.0.2");
      assert.equal(c.log.file, "/srv/mf/logs/mail.log");
    }
    assert.equal(sub.limits.maxRecipients, 5);
    assert.equal(out.limits.maxRecipients, 1000);
    assert.equal(sub.instance.relayTo, "out", "relay_to defaults to the only delivering instance");
    assert.deepEqual(sub.transports[relayTransportName("out")]?.nexthop, {
      kind: "host",
      host: "127.0.0.1",
      port: 3025,
      lookupMx: false,
    });
    assert.deepEqual(Object.keys(out.transports).sort(), ["bulk", "mx"]);
    assert.equal(out.routes.length, 1);
    assert.equal(fleet.log.file, "/srv/mf/logs/mail.log");
  });

  test("a disabled instance is kept, marked disabled", () => {
    const { fleet } = fleetOf(
      "instances:\n  out: { role: all }\n  spare: { role: output, enabled: false, listen: ['127.0.0.1:4000'] }\n",
    );
    assert.equal(fleet.instances.spare?.instance.enabled, false);
  });

  test("a relaying role may not define transports or routes", () => {
    const errors = errorsOf(`instances:
  sub:
    role: submission
    routes: []
  out: { role: output }
`);
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(
      errors[0]!,
      /^fleet\.yaml:4:13: instances\.sub\.routes: .*no routes in a submission instance/,
    );
  });

  test("relay_to must name another instance, with a did-you-mean", () => {
    const [error] = errorsOf(
      "instances:\n  sub: { role: submission, relay_to: outptu }\n  output: { role: output }\n",
    );
    assert.match(error!, /^fleet\.yaml:2:38: instances\.sub\.relay_to: .*did you mean "output"/);
  });

  test("relay_to is required when there is no single delivering instance", () => {
    const errors = errorsOf(
      "instances:\n  sub: { role: submission }\n  a: { role: output, listen: ['127.0.0.1:4001'] }\n  b: { role: output, listen: ['127.0.0.1:4002'] }\n",
    );
    assert.match(
      errors.join("\n"),
      /instances\.sub: .*relay_to: the instance to hand mail to \(one of a, b\)/,
    );
  });

  test("a relay_to loop is refused", () => {
    const errors = errorsOf(`instances:
  a: { role: input, relay_to: b, listen: ["127.0.0.1:4001"] }
  b: { role: input, relay_to: a, listen: ["127.0.0.1:4002"] }
  out: { role: output }
`);
    assert.match(errors.join("\n"), /relay_to not to loop \(a -> b -> a\)/);
  });

  test("a delivering role takes no relay_to", () => {
    const errors = errorsOf(
      "instances:\n  out: { role: output, relay_to: other }\n  other: { role: all, listen: ['127.0.0.1:4003'] }\n",
    );
    assert.match(errors.join("\n"), /instances\.out\.relay_to: .*no relay_to for role output/);
  });

  test("two instances cannot share a spool or a listening address", () => {
    const errors = errorsOf(`instances:
  a: { role: output, spool_dir: /var/q, listen: ["127.0.0.1:4001"] }
  b: { role: all, spool_dir: /var/q, listen: ["127.0.0.1:4001"] }
`);
    const text = errors.join("\n");
    assert.match(
      text,
      /fleet\.yaml:3:30: instances\.b\.spool_dir: .*a spool_dir of its own \(instance a uses \/var\/q\)/,
    );
    assert.match(
      text,
      /instances\.b\.listen\.0: .*a listening address of its own \(instance a listens on 127\.0\.0\.1:4001\)/,
    );
  });

  test("an unknown key in an instance section is pointed at, with the section's keys", () => {
    const [error] = errorsOf("instances:\n  out:\n    role: output\n    rotues: []\n");
    assert.match(error!, /^fleet\.yaml:4:5: instances\.out\.rotues: .*did you mean "routes"/);
  });

  test("a bad role lists the roles", () => {
    const [error] = errorsOf("instances:\n  out: { role: relay }\n");
    assert.match(error!, /instances\.out\.role: .*submission.*input.*output.*all/);
  });

  test("a transport in an output instance may use the fleet's pools", () => {
    const { fleet } = fleetOf(`sources: { s1: { address: 127.0.0.3 } }
pools: { p: { sources: [s1] } }
instances:
  out:
    role: output
    transports: { t: { pool: p } }
`);
    assert.equal(fleet.instances.out?.transports.t?.pool, "p");
    const errors = errorsOf("instances:\n  out:\n    role: output\n    transports: { t: { pool: nope } }\n");
    assert.match(errors.join("\n"), /instances\.out\.transports\.t\.pool: .*a configured pool/);
  });
});
