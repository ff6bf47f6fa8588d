import assert from "node:assert/strict";
import { test } from "node:test";
import { BodyCache } from "./body-cache.ts";

const body = (n: number, fill = "x") => Buffer.alloc(n, fill);

test("serves what was put until the message is deleted", () => {
  const cache = new BodyCache(1000);
  cache.put("A", body(10, "a"));
  assert.equal(cache.get("A")?.toString(), "a".repeat(10));
  assert.equal(cache.bytes, 10);
  cache.delete("A");
  assert.equal(cache.get("A"), undefined);
  assert.equal(cache.bytes, 0);
});

test("drops the oldest bodies to stay within the budget", () => {
  const cache = new BodyCache(1000);
  cache.put("A", body(200));
  cache.put("B", body(200));
  cache.put("C", body(200));
  cache.put("D", body(200));
  cache.put("E", body(200));
  cache.put("F", body(200));
  assert.equal(cache.get("A"), undefined);
  assert.ok(cache.get("B"));
  assert.ok(cache.get("F"));
  assert.equal(cache.bytes, 1000);
});

test("a body over a quarter of the budget is not kept", () => {
  const cache = new BodyCache(1000);
  cache.put("A", body(100));
  cache.put("BIG", body(300));
  assert.equal(cache.get("BIG"), undefined);
  assert.ok(cache.get("A"));
});

test("putting an id again replaces its body and its size", () => {
  const cache = new BodyCache(1000);
  cache.put("A", body(100));
  cache.put("A", body(50));
  assert.equal(cache.bytes, 50);
});
