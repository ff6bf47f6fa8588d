import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { ConfigError } from "./errors.ts";
import { describeValue, didYouMean, formatConfigError, levenshtein, oneOf } from "./errors.ts";

const base: ConfigError = {
  code: "CONFIG_INVALID",
  file: "mailfleet.yaml",
  line: 12,
  col: 5,
  key: "transports.mx.tls",
  found: '"maybe"',
  expected: "one of none, opportunistic, required",
  message: 'found "maybe", expected one of none, opportunistic, required',
};

describe("formatConfigError", () => {
  test("file:line:col: key: message", () => {
    assert.equal(
      formatConfigError(base),
      'mailfleet.yaml:12:5: transports.mx.tls: found "maybe", expected one of none, opportunistic, required',
    );
  });

  test("leaves out an empty key and a zero position", () => {
    assert.equal(formatConfigError({ ...base, key: "" }), `mailfleet.yaml:12:5: ${base.message}`);
    assert.equal(
      formatConfigError({ ...base, line: 0, col: 0 }),
      `mailfleet.yaml: transports.mx.tls: ${base.message}`,
    );
  });
});

describe("didYouMean", () => {
  const known = ["nexthop", "port", "tls", "concurrency", "timeouts", "idle_timeout"];
  test("typos within distance 2", () => {
    assert.equal(didYouMean("concurency", known), "concurrency");
    assert.equal(didYouMean("tsl", known), "tls");
    assert.equal(didYouMean("Port", known), "port");
  });
  test("prefixes", () => {
    assert.equal(didYouMean("timeout", known), "timeouts");
    assert.equal(didYouMean("concurrency_per_site", known), "concurrency");
  });
  test("nothing close", () => {
    assert.equal(didYouMean("bounce", known), undefined);
    assert.equal(didYouMean("x", known), undefined);
  });
  test("prefers the smaller distance", () => {
    assert.equal(didYouMean("idle_timeouts", known), "idle_timeout");
  });
});

test("levenshtein", () => {
  assert.equal(levenshtein("", "abc"), 3);
  assert.equal(levenshtein("kitten", "sitting"), 3);
  assert.equal(levenshtein("same", "same"), 0);
});

test("describeValue and oneOf", () => {
  assert.deepEqual(["x", 5, true, null, undefined, [1], { a: 1 }].map(describeValue), [
    '"x"',
    "5",
    "true",
    "null (empty value)",
    "nothing",
    "a list",
    "a map",
  ]);
  assert.equal(oneOf(["a", "b"]), "one of a, b");
  assert.equal(oneOf(["a"]), "a");
});
