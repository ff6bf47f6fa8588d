import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createSingleInstanceSchema } from "./schema-fleet.ts";

const single = createSingleInstanceSchema({
  baseDir: "/etc/mf",
  defaultHostname: "host.example",
  source: "test.yaml",
});
/** The single-instance file's one instance, "main". */
const schema = {
  parse: (input: unknown) => single.parse(input).instances.main!,
  safeParse: (input: unknown) => single.safeParse(input),
};

function issuesOf(input: unknown) {
  const result = schema.safeParse(input);
  assert.equal(result.success, false, "expected the input to be rejected");
  return result.error?.issues ?? [];
}

describe("createSingleInstanceSchema", () => {
  test("takes source, default hostname and base dir from its context", () => {
    const config = schema.parse({});
    assert.equal(config.source, "test.yaml");
    assert.equal(config.hostname, "host.example");
    assert.equal(config.spoolDir, "/etc/mf/var/spool");
    assert.equal(config.bounce.from, "MAILER-DAEMON@host.example");
  });

  test("a relative log file resolves against the base dir; '-' stays stdout", () => {
    assert.equal(schema.parse({ log: { file: "log/m.log" } }).log.file, "/etc/mf/log/m.log");
    assert.equal(schema.parse({ log: { file: "-" } }).log.file, "-");
  });

  test("a transport without nexthop port uses its port field", () => {
    const config = schema.parse({
      transports: {
        a: { nexthop: "[relay.example]", port: 2525 },
        b: { nexthop: "[relay.example]:587", port: 2525 },
        c: { port: 2525 },
      },
    });
    assert.deepEqual(config.transports.a?.nexthop, {
      kind: "host",
      host: "relay.example",
      port: 2525,
      lookupMx: false,
    });
    assert.deepEqual(config.transports.b?.nexthop, {
      kind: "host",
      host: "relay.example",
      port: 587,
      lookupMx: false,
    });
    assert.deepEqual(config.transports.c?.nexthop, { kind: "mx", port: 2525 });
  });

  test("each transport is named by its key, and mx always exists", () => {
    const config = schema.parse({ transports: { bulk: { helo: "bulk.example" } } });
    assert.deepEqual(Object.keys(config.transports).sort(), ["bulk", "mx"]);
    assert.equal(config.transports.bulk?.name, "bulk");
    assert.equal(config.transports.bulk?.helo, "bulk.example");
    assert.equal(config.transports.mx?.name, "mx");
  });

  test("bounce.delay_warning_after: 4h by default, 0 turns the warning off, not negative", () => {
    assert.equal(schema.parse({}).bounce.delayWarningAfterMs, 4 * 3_600_000);
    assert.equal(schema.parse({ bounce: { delay_warning_after: 0 } }).bounce.delayWarningAfterMs, 0);
    assert.equal(schema.parse({ bounce: { delay_warning_after: "2s" } }).bounce.delayWarningAfterMs, 2000);
    assert.equal(issuesOf({ bounce: { delay_warning_after: "-1h" } }).length, 1);
  });

  test("objects are strict at every level", () => {
    for (const input of [
      { extra: 1 },
      { limits: { extra: 1 } },
      { transports: { mx: { timeouts: { extra: 1 } } } },
      { log: { extra: 1 } },
      { admin: { extra: 1 } },
      { bounce: { extra: 1 } },
    ]) {
      const issues = issuesOf(input);
      assert.deepEqual(
        issues.map((i) => i.code),
        ["unrecognized_keys"],
        JSON.stringify(input),
      );
    }
  });

  test("admin.listen null disables the API", () => {
    assert.equal(schema.parse({ admin: { listen: null } }).admin.listen, null);
  });

  test("listeners may use port 0; transports may not", () => {
    assert.deepEqual(schema.parse({ listen: ["127.0.0.1:0"] }).listen, [{ host: "127.0.0.1", port: 0 }]);
    assert.deepEqual(
      issuesOf({ transports: { mx: { port: 0 } } }).map((i) => i.path),
      [["transports", "mx", "port"]],
    );
  });

  test("our own checks carry the expected phrase", () => {
    const [issue] = issuesOf({ dns: { timeout: "soon" } });
    assert.equal(issue?.code, "custom");
    assert.match(
      String((issue as { params?: { expected?: unknown } }).params?.expected),
      /^a duration such as/,
    );
  });

  test("zero durations are refused where they make no sense", () => {
    assert.deepEqual(
      issuesOf({ limits: { session_timeout: 0 }, transports: { mx: { retry_schedule: [] } } }).map(
        (i) => i.path,
      ),
      [
        ["limits", "session_timeout"],
        ["transports", "mx", "retry_schedule"],
      ],
    );
    assert.equal(schema.parse({ transports: { mx: { idle_timeout: 0 } } }).transports.mx?.idleTimeoutMs, 0);
  });

  test("bind_address must be an IP literal", () => {
    assert.equal(
      schema.parse({ transports: { mx: { bind_address: "2001:db8::5" } } }).transports.mx?.bindAddress,
      "2001:db8::5",
    );
    assert.equal(issuesOf({ transports: { mx: { bind_address: "out.example" } } }).length, 1);
  });

  test("dns servers must be IP literals", () => {
    assert.equal(issuesOf({ dns: { servers: ["dns.example"] } }).length, 1);
  });

  test("default_transport must name a transport", () => {
    assert.equal(schema.parse({ delivery: { default_transport: "mx" } }).delivery.defaultTransport, "mx");
    const [issue] = issuesOf({ delivery: { default_transport: "bulk" } });
    assert.deepEqual(issue?.path, ["delivery", "default_transport"]);
  });
});
