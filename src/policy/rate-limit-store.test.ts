import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createMemoryRateLimitStore } from "./rate-limit-store.ts";

const MINUTE = 60_000;

function clock(start = 10 * MINUTE) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

async function takeN(
  store: ReturnType<typeof createMemoryRateLimitStore>,
  key: string,
  n: number,
  limit: number,
) {
  const allowed: boolean[] = [];
  for (let i = 0; i < n; i++) allowed.push((await store.take(key, limit, MINUTE)).allowed);
  return allowed;
}

describe("memory rate-limit store: sliding window", () => {
  test("allows `limit` events per window and refuses the next, without counting refusals", async () => {
    const c = clock();
    const store = createMemoryRateLimitStore({ now: c.now });
    assert.deepEqual(await takeN(store, "k", 4, 3), [true, true, true, false]);
    c.advance(30_000);
    assert.equal((await store.take("k", 3, MINUTE)).allowed, false);
  });

  test("keys are independent", async () => {
    const store = createMemoryRateLimitStore({ now: clock().now });
    assert.deepEqual(await takeN(store, "a", 2, 1), [true, false]);
    assert.deepEqual(await takeN(store, "b", 1, 1), [true]);
  });

  test("the previous window counts by its overlap with the sliding window", async () => {
    const c = clock();
    const store = createMemoryRateLimitStore({ now: c.now });
    // 4 events at the start of a window, limit 4.
    assert.deepEqual(await takeN(store, "k", 4, 4), [true, true, true, true]);
    // A quarter into the next window, 3/4 of the 4 old events still overlap: 3 counted, 1 free.
    c.advance(MINUTE + MINUTE / 4);
    assert.deepEqual(await takeN(store, "k", 2, 4), [true, false]);
    // Three quarters in: 1 old event overlaps, plus the 1 new one: 2 more fit.
    c.advance(MINUTE / 2);
    assert.deepEqual(await takeN(store, "k", 3, 4), [true, true, false]);
  });

  test("after two idle windows the count starts from zero", async () => {
    const c = clock();
    const store = createMemoryRateLimitStore({ now: c.now });
    await takeN(store, "k", 3, 3);
    c.advance(2 * MINUTE);
    assert.deepEqual(await takeN(store, "k", 4, 3), [true, true, true, false]);
  });

  test("memory is bounded: idle keys are dropped, and the least recently used beyond maxKeys", async () => {
    const c = clock();
    const store = createMemoryRateLimitStore({ now: c.now, maxKeys: 100 });
    for (let i = 0; i < 50; i++) await store.take(`idle${i}`, 10, MINUTE);
    c.advance(2 * MINUTE + 1);
    await store.take("fresh", 10, MINUTE);
    assert.equal(store.size.windows, 1, "idle keys are evicted");
    for (let i = 0; i < 500; i++) await store.take(`busy${i}`, 10, MINUTE);
    assert.equal(store.size.windows, 100);
  });
});

describe("memory rate-limit store: concurrent slots", () => {
  test("acquire up to the limit; release frees a slot; a key with no holders is dropped", async () => {
    const store = createMemoryRateLimitStore();
    assert.equal(await store.acquire("ip", 2), true);
    assert.equal(await store.acquire("ip", 2), true);
    assert.equal(await store.acquire("ip", 2), false);
    await store.release("ip");
    assert.equal(await store.acquire("ip", 2), true);
    await store.release("ip");
    await store.release("ip");
    assert.equal(store.size.slots, 0);
  });
});
