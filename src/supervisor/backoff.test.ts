import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_BACKOFF, nextRestartDelay } from "./backoff.ts";

test("the first restart waits 1 s, then the delay doubles up to 60 s", () => {
  const delays: number[] = [];
  let previous: number | null = null;
  for (let i = 0; i < 9; i++) {
    previous = nextRestartDelay(DEFAULT_BACKOFF, previous, 100);
    delays.push(previous);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
});

test("a process that stayed up 60 s starts the sequence over", () => {
  assert.equal(nextRestartDelay(DEFAULT_BACKOFF, 60_000, 60_000), 1000);
  assert.equal(nextRestartDelay(DEFAULT_BACKOFF, 60_000, 59_999), 60_000);
  assert.equal(nextRestartDelay(DEFAULT_BACKOFF, 4000, 120_000), 1000);
});

test("the policy is a parameter", () => {
  const fast = { initialMs: 10, maxMs: 35, resetAfterMs: 1000 };
  assert.equal(nextRestartDelay(fast, null, 0), 10);
  assert.equal(nextRestartDelay(fast, 20, 0), 35);
});
