import assert from "node:assert/strict";
import { test } from "node:test";
import { isExpired, retryDelay } from "./retry.ts";

test("retry schedule walks the list, then repeats the last step", () => {
  const s = [1000, 5000, 60000];
  assert.equal(retryDelay(s, 1), 1000);
  assert.equal(retryDelay(s, 2), 5000);
  assert.equal(retryDelay(s, 3), 60000);
  assert.equal(retryDelay(s, 9), 60000);
});

test("expiry is measured from arrival", () => {
  assert.equal(isExpired(0, 999, 1000), false);
  assert.equal(isExpired(0, 1000, 1000), true);
});
