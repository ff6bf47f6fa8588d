import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";

import type { ConfigError } from "./errors.ts";
import { formatConfigError } from "./errors.ts";
import { BUILTIN_SOURCE, builtinConfig, builtinFleet, loadConfig, parseConfig } from "./load.ts";
import { defaultPolicy } from "./schema-policy.ts";
import type { Config, TransportConfig } from "./types.ts";

const FIXTURES = resolve(import.meta.dirname, "../../test/fixtures/config");

function errorsOf(text: string): ConfigError[] {
  const result = parseConfig(text, "mailfleet.yaml", "/etc/mailfleet");
  assert.equal(result.ok, false, "expected the config to be rejected");
  return result.ok ? [] : result.errors;
}

function onlyError(text: string): ConfigError {
  const errors = errorsOf(text);
  assert.equal(errors.length, 1, errors.map(formatConfigError).join("\n"));
  return errors[0]!;
}

function parsedOk(text: string): Config {
  const result = parseConfig(text, "mailfleet.yaml", "/etc/mailfleet");
  if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
  return result.config;
}

const DEFAULT_TIMEOUTS = { connectMs: 30_000, greetingMs: 300_000, commandMs: 300_000, dataMs: 600_000 };

function defaultTransport(name: string, helo: string): TransportConfig {
  return {
    name,
    nexthop: { kind: "mx", port: 25 },
    tls: "opportunistic",
    pool: null,
    bindAddress: null,
    helo,
    concurrency: 20,
    limits: { concurrency: 20, rateDelayMs: 0, maxPerHour: 0 },
    maxMessagesPerConnection: 100,
    retryScheduleMs: [300_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000],
    maxQueueLifetimeMs: 5 * 86_400_000,
    timeouts: DEFAULT_TIMEOUTS,
    idleTimeoutMs: 5_000,
  };
}

describe("loadConfig", () => {
  const tempDirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "mailfleet-config-"));
    tempDirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });

  test("a file with every key set round-trips into the exact Config", () => {
    const file = join(FIXTURES, "full.yaml");
    const result = loadConfig({ path: file });
    if (!result.ok) assert.fail(result.errors.map(formatConfigError).join("\n"));
    const mxDefaults = defaultTransport("smarthost", "mx1.example.com");
    const expected: Config = {
      source: file,
      instance: { name: "main", role: "all", enabled: true, relayTo: null },
      hostname: "mx1.example.com",
      spoolDir: join(FIXTURES, "spool"),
      listen: [
        { host: "0.0.0.0", port: 25 },
        { host: "::1", port: 2525 },
        { host: "127.0.0.1", port: 2465, tls: "implicit" },
      ],
      limits: {
        maxMessageSize: 10_000_000,
        maxRecipients: 50,
        maxLineLength: 1000,
        maxCommandLength: 4096,
        minFreeDiskBytes: 1024 ** 3,
        sessionTimeoutMs: 90_000,
        maxHops: 20,
        greetPauseMs: 2000,
        maxErrors: 10,
        commandTimeoutMs: 60_000,
        minDataRate: 1000,
        maxConnectionsPerIp: 5,
        maxConnections: 200,
      },
      relay: {
        trustedNetworks: ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"],
        localDomains: ["bounces.example.com", ".fbl.example.com"],
      },
      tls: { certFile: join(FIXTURES, "tls/cert.pem"), keyFile: join(FIXTURES, "tls/key.pem") },
      auth: { usersFile: join(FIXTURES, "users"), maxFailures: 3, failureWindowMs: 600_000 },
      dns: {
        servers: [
          { host: "127.0.0.1", port: 5353 },
          { host: "192.0.2.53", port: 53 },
          { host: "::1", port: 53 },
        ],
        timeoutMs: 1500,
        tries: 3,
      },
      delivery: { allowPrivateDestinations: true, defaultTransport: "bulk", threads: 1 },
      transports: {
        mx: defaultTransport("mx", "mx1.example.com"),
        bulk: {
          name: "bulk",
          nexthop: { kind: "mx", port: 2525 },
          tls: "required",
          pool: null,
          bindAddress: "192.0.2.10",
          helo: "out1.example.com",
          concurrency: 5,
          limits: { concurrency: 5, rateDelayMs: 400, maxPerHour: 1000 },
          maxMessagesPerConnection: 10,
          retryScheduleMs: [60_000, 3_600_000],
          maxQueueLifetimeMs: 2 * 86_400_000,
          timeouts: { connectMs: 10_000, greetingMs: 60_000, commandMs: 120_000, dataMs: 180_000 },
          idleTimeoutMs: 0,
        },
        smarthost: {
          ...mxDefaults,
          nexthop: { kind: "host", host: "relay.example.net", port: 587, lookupMx: false },
        },
        mxhost: {
          ...mxDefaults,
          name: "mxhost",
          nexthop: { kind: "host", host: "relay.example.org", port: 25, lookupMx: true },
        },
        gmail: { ...mxDefaults, name: "gmail", pool: "shared" },
      },
      sources: {
        out2: { name: "out2", address: "192.0.2.2", helo: "out2.example.com" },
        out3: { name: "out3", address: "2001:db8::3", helo: "mx1.example.com" },
      },
      pools: {
        shared: {
          name: "shared",
          strategy: "weighted",
          members: [
            { source: "out2", weight: 1 },
            { source: "out3", weight: 3 },
          ],
        },
      },
      routes: [
        {
          index: 1,
          name: "marketing-to-gmail",
          match: {
            recipientDomain: null,
            mx: ["*.google.com"],
            sender: null,
            senderDomain: ["news.example.com", ".lists.example.com"],
            tenant: null,
          },
          transport: "gmail",
        },
        {
          index: 2,
          name: null,
          match: {
            recipientDomain: ["yahoo.com", ".yahoo.co.uk"],
            mx: null,
            sender: ["noreply@app.example", ""],
            senderDomain: null,
            tenant: null,
          },
          transport: "bulk",
        },
      ],
      bounce: { from: "postmaster@example.com", delayWarningAfterMs: 30 * 60_000 },
      log: { format: "json", file: join(FIXTURES, "logs/mailfleet.log"), level: "debug" },
      admin: { listen: null },
      policy: defaultPolicy("all", "mx1.example.com"),
      dkim: { signers: [] },
      tenants: { from: ["auth_user", "header"], header: "X-Mailfleet-Tenant" },
      reputation: { backoffRules: null, isolation: null },
      feedback: { verp: null, addresses: [], bounceDomains: [], bounceRules: null },
    };
    assert.deepEqual(result.config, expected);
  });

  test("without a path and without mailfleet.yaml in cwd, returns the built-in pipeline", () => {
    const cwd = tempDir();
    const result = loadConfig({ cwd });
    assert.ok(result.ok);
    assert.equal(result.fleet.source, BUILTIN_SOURCE);
    assert.deepEqual(result.fleet, builtinFleet(cwd));
    assert.equal(result.config.instance.name, "output", "the primary instance is the one that delivers");
    assert.equal(result.config.spoolDir, join(cwd, "var/spool/output"));
  });

  test("without a path, uses mailfleet.yaml in cwd and resolves spool_dir against it", () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, "mailfleet.yaml"), "spool_dir: q\n");
    const result = loadConfig({ cwd });
    assert.ok(result.ok);
    assert.equal(result.config.source, join(cwd, "mailfleet.yaml"));
    assert.equal(result.config.spoolDir, join(cwd, "q"));
  });

  test("relative spool_dir resolves against the config file's directory, not cwd", () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, "etc"));
    writeFileSync(join(cwd, "etc", "out.yaml"), "spool_dir: ../spool/out\n");
    const result = loadConfig({ cwd, path: "etc/out.yaml" });
    assert.ok(result.ok);
    assert.equal(result.config.spoolDir, join(cwd, "spool", "out"));
    assert.equal(result.config.source, join(cwd, "etc", "out.yaml"));
  });

  test("an absolute spool_dir is kept as is", () => {
    assert.equal(parsedOk("spool_dir: /var/spool/mailfleet\n").spoolDir, "/var/spool/mailfleet");
  });

  test("a path that does not exist is CONFIG_NOT_FOUND, not the default", () => {
    const cwd = tempDir();
    const result = loadConfig({ cwd, path: "nope.yaml" });
    assert.equal(result.ok, false);
    const error = result.ok ? undefined : result.errors[0];
    assert.equal(error?.code, "CONFIG_NOT_FOUND");
    assert.equal(error?.file, "nope.yaml");
    assert.equal(
      formatConfigError(error!),
      "nope.yaml: found no readable file (ENOENT), expected a readable config file",
    );
  });

  test("errors name the file as the operator gave it", () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, "bad.yaml"), "log:\n  level: loud\n");
    const result = loadConfig({ cwd, path: "bad.yaml" });
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.equal(
        formatConfigError(result.errors[0]!),
        'bad.yaml:2:10: log.level: found "loud", expected one of debug, info, warn, error',
      );
    }
  });
});

describe("builtinConfig", () => {
  test("has the documented defaults", () => {
    const config = builtinConfig("/srv/mf");
    assert.deepEqual(config, {
      source: "<built-in default>",
      instance: { name: "main", role: "all", enabled: true, relayTo: null },
      hostname: hostname(),
      spoolDir: "/srv/mf/var/spool",
      listen: [{ host: "127.0.0.1", port: 2525 }],
      limits: {
        maxMessageSize: 25 * 1024 * 1024,
        maxRecipients: 1000,
        maxLineLength: 998,
        maxCommandLength: 998,
        minFreeDiskBytes: 100 * 1024 * 1024,
        sessionTimeoutMs: 300_000,
        maxHops: 50,
        greetPauseMs: 0,
        maxErrors: 20,
        commandTimeoutMs: 300_000,
        minDataRate: 500,
        maxConnectionsPerIp: 50,
        maxConnections: 500,
      },
      relay: { trustedNetworks: ["127.0.0.0/8", "::1/128"], localDomains: [] },
      tls: null,
      auth: null,
      dns: { servers: [], timeoutMs: 5000, tries: 2 },
      delivery: { allowPrivateDestinations: false, defaultTransport: "mx", threads: 1 },
      transports: { mx: defaultTransport("mx", hostname()) },
      sources: {},
      pools: {},
      routes: [],
      bounce: { from: `MAILER-DAEMON@${hostname()}`, delayWarningAfterMs: 4 * 3_600_000 },
      log: { format: "text", file: "-", level: "info" },
      admin: { listen: { host: "127.0.0.1", port: 0 } },
      policy: defaultPolicy("all", hostname()),
      dkim: { signers: [] },
      tenants: { from: ["auth_user", "header"], header: "X-Mailfleet-Tenant" },
      reputation: { backoffRules: null, isolation: null },
      feedback: { verp: null, addresses: [], bounceDomains: [], bounceRules: null },
    } satisfies Config);
  });

  test("an empty file gives the same config as the built-in default", () => {
    const fromEmpty = parseConfig("# nothing here\n", "x.yaml", "/srv/mf");
    assert.ok(fromEmpty.ok);
    assert.deepEqual({ ...fromEmpty.config, source: BUILTIN_SOURCE }, builtinConfig("/srv/mf"));
  });
});

describe("parseConfig", () => {
  test("hostname feeds the default HELO and bounce From", () => {
    const config = parseConfig("hostname: mx9.example.com\ntransports: { a: {} }\n", "f", "/");
    assert.ok(config.ok);
    assert.equal(config.config.transports.a?.helo, "mx9.example.com");
    assert.equal(config.config.transports.mx?.helo, "mx9.example.com");
    assert.equal(config.config.bounce.from, "MAILER-DAEMON@mx9.example.com");
  });

  test("overriding the built-in mx transport keeps the other defaults", () => {
    const mx = parsedOk("hostname: h.example\ntransports:\n  mx:\n    tls: required\n").transports.mx;
    assert.deepEqual(mx, { ...defaultTransport("mx", "h.example"), tls: "required" });
  });

  test("YAML syntax error points at the line and column", () => {
    const error = onlyError("log:\n  level: info\n  file: [a, b\n");
    assert.equal(error.code, "CONFIG_SYNTAX");
    assert.equal(`${error.line}:${error.col}`, "4:1");
  });

  test("duplicate key is a syntax error at the second key", () => {
    const error = onlyError("log:\n  level: info\n  level: debug\n");
    assert.equal(error.code, "CONFIG_SYNTAX");
    assert.equal(`${error.line}:${error.col}`, "3:3");
  });
});
