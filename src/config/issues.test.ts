import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { LineCounter, parseDocument } from "yaml";

import type { ConfigError } from "./errors.ts";
import { formatConfigError } from "./errors.ts";
import { knownKeysAt, locate } from "./issues.ts";
import { parseConfig } from "./load.ts";
import { createSingleInstanceSchema } from "./schema-fleet.ts";

const TEXT = "transports:\n  mx:\n    tls: none\n    retry_schedule: [1m, 2m]\n  empty:\n";

function positionOf(path: PropertyKey[], target: "key" | "value"): string {
  const lineCounter = new LineCounter();
  const doc = parseDocument(TEXT, { lineCounter });
  const { line, col } = lineCounter.linePos(locate(doc, path, target));
  return `${line}:${col}`;
}

describe("locate", () => {
  test("a value, a key, a list item", () => {
    assert.equal(positionOf(["transports", "mx", "tls"], "value"), "3:10");
    assert.equal(positionOf(["transports", "mx", "tls"], "key"), "3:5");
    assert.equal(positionOf(["transports", "mx", "retry_schedule", 1], "value"), "4:26");
  });

  test("a missing key points at the deepest map that exists", () => {
    assert.equal(positionOf(["transports", "mx", "helo"], "value"), "3:5");
    assert.equal(positionOf(["nothing", "here"], "value"), "1:1");
  });

  test("an empty value points just after its key", () => {
    assert.equal(positionOf(["transports", "empty"], "value"), "5:9");
  });
});

describe("knownKeysAt", () => {
  const schema = createSingleInstanceSchema({ baseDir: "/", defaultHostname: "h", source: "s" });
  test("reads keys through transforms, defaults, records", () => {
    assert.deepEqual(knownKeysAt(schema, ["transports", "anything", "timeouts"]), [
      "connect",
      "greeting",
      "command",
      "data",
    ]);
    assert.deepEqual(knownKeysAt(schema, ["log"]), ["format", "file", "level"]);
    assert.ok(knownKeysAt(schema, []).includes("spool_dir"));
  });

  test("no keys where there is no object", () => {
    assert.deepEqual(knownKeysAt(schema, ["listen"]), []);
    assert.deepEqual(knownKeysAt(schema, ["nope"]), []);
  });
});

describe("issueToErrors, through parseConfig", () => {
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
  test("bad enum value points at the value", () => {
    const error = onlyError("hostname: h.example\ntransports:\n  mx:\n    tls: maybe\n");
    assert.equal(error.code, "CONFIG_INVALID");
    assert.equal(
      formatConfigError(error),
      'mailfleet.yaml:4:10: transports.mx.tls: found "maybe", expected one of none, opportunistic, required',
    );
  });

  test("unknown key points at the key and suggests the closest one", () => {
    const error = onlyError("transports:\n  bulk:\n    concurency: 5\n");
    assert.equal(error.code, "CONFIG_UNKNOWN_KEY");
    assert.equal(error.key, "transports.bulk.concurency");
    assert.equal(`${error.line}:${error.col}`, "3:5");
    assert.equal(error.found, 'unknown key "concurency"');
    assert.match(error.expected, /^one of nexthop, port, tls, .*timeouts \(did you mean "concurrency"\?\)$/);
  });

  test("unknown top-level key with nothing close gets no suggestion", () => {
    const error = onlyError("listen: []\nzzzzzz: 1\n");
    assert.equal(error.code, "CONFIG_UNKNOWN_KEY");
    assert.equal(`${error.line}:${error.col}`, "2:1");
    assert.doesNotMatch(error.expected, /did you mean/);
    assert.match(
      error.expected,
      /^one of hostname, run_dir, dns, sources, pools, providers, log, spool_dir, listen, /,
    );
  });

  test("two unknown keys in one map give two errors, each at its key", () => {
    const errors = errorsOf("limits:\n  max_size: 1\n  max_recipient: 2\n");
    assert.deepEqual(
      errors.map((e) => [e.key, e.line, e.col, e.code]),
      [
        ["limits.max_size", 2, 3, "CONFIG_UNKNOWN_KEY"],
        ["limits.max_recipient", 3, 3, "CONFIG_UNKNOWN_KEY"],
      ],
    );
    assert.match(errors[1]!.expected, /did you mean "max_recipients"/);
  });

  test("bad duration and bad size point at their values", () => {
    const errors = errorsOf("limits:\n  session_timeout: 5 minutes\n  max_message_size: 25 MiBs\n");
    assert.deepEqual(
      errors.map((e) => [e.key, e.line, e.col, e.found]),
      [
        ["limits.session_timeout", 2, 20, '"5 minutes"'],
        ["limits.max_message_size", 3, 21, '"25 MiBs"'],
      ],
    );
    assert.match(errors[0]!.expected, /^a duration such as/);
    assert.match(errors[1]!.expected, /^a size such as/);
  });

  test("bad item in a list points at the item", () => {
    const error = onlyError("transports:\n  mx:\n    retry_schedule:\n      - 5m\n      - soon\n");
    assert.equal(error.key, "transports.mx.retry_schedule.1");
    assert.equal(`${error.line}:${error.col}`, "5:9");
  });

  test("bad CIDR is rejected at the item", () => {
    const error = onlyError('relay:\n  trusted_networks: ["10.0.0.0/8", "10.0.0.0/33"]\n');
    assert.equal(error.key, "relay.trusted_networks.1");
    assert.equal(`${error.line}:${error.col}`, "2:36");
    assert.equal(error.found, '"10.0.0.0/33"');
  });

  test("default_transport naming a missing transport points at it and lists the real ones", () => {
    const error = onlyError("delivery:\n  default_transport: bulk\ntransports:\n  smarthost: {}\n");
    assert.equal(
      formatConfigError(error),
      'mailfleet.yaml:2:22: delivery.default_transport: found "bulk", expected the name of a configured transport (one of mx, smarthost)',
    );
  });

  test("wrong type reports what was found", () => {
    const error = onlyError("listen: 127.0.0.1:2525\n");
    assert.equal(
      formatConfigError(error),
      'mailfleet.yaml:1:9: listen: found "127.0.0.1:2525", expected a list',
    );
    const section = onlyError("limits:\n");
    assert.equal(section.found, "null (empty value)");
    assert.equal(section.expected, "a map");
    assert.equal(section.line, 1);
  });

  test("a file whose top level is not a map is rejected at 1:1", () => {
    const error = onlyError("- a\n- b\n");
    assert.equal(formatConfigError(error), "mailfleet.yaml:1:1: found a list, expected a map");
  });

  test("a bad transport name points at the key", () => {
    const error = onlyError("transports:\n  'bad name': {}\n");
    assert.equal(error.key, "transports.bad name");
    assert.equal(`${error.line}:${error.col}`, "2:3");
  });

  test("YAML 1.1 booleans are not booleans", () => {
    const error = onlyError("delivery:\n  allow_private_destinations: yes\n");
    assert.equal(error.found, '"yes"');
    assert.equal(error.expected, "true or false");
  });

  test("values reached through an alias are validated", () => {
    const errors = errorsOf("transports:\n  a: &t { port: 0 }\n  b: *t\n");
    assert.deepEqual(
      errors.map((e) => e.key),
      ["transports.a.port", "transports.b.port"],
    );
  });
});
