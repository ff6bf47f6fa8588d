import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryFailureLimiter } from "./failure-limiter.ts";

describe("AUTH failure limiter", () => {
  it("blocks a client after maxFailures failures within the window, until they age out", () => {
    const limiter = createMemoryFailureLimiter({ maxFailures: 3, windowMs: 1000 });
    for (let i = 0; i < 3; i++) {
      assert.equal(limiter.isBlocked("192.0.2.1", i), false);
      limiter.recordFailure("192.0.2.1", i * 100);
    }
    assert.equal(limiter.isBlocked("192.0.2.1", 300), true);
    assert.equal(limiter.isBlocked("192.0.2.2", 300), false, "other clients are not affected");
    assert.equal(limiter.isBlocked("192.0.2.1", 1000), false, "the first failure has aged out");
    limiter.recordFailure("192.0.2.1", 1000);
    assert.equal(limiter.isBlocked("192.0.2.1", 1050), true);
  });

  it("tracks at most maxClients clients", () => {
    const limiter = createMemoryFailureLimiter({ maxFailures: 1, windowMs: 60_000, maxClients: 10 });
    for (let i = 0; i < 100; i++) limiter.recordFailure(`10.0.0.${i}`, 0);
    const blocked = Array.from({ length: 100 }, (_, i) => limiter.isBlocked(`10.0.0.${i}`, 1)).filter(
      Boolean,
    );
    assert.ok(blocked.length <= 10, `${blocked.length} tracked`);
    assert.equal(limiter.isBlocked("10.0.0.99", 1), true, "the newest is kept");
  });

  it("maxFailures 0 disables the limit", () => {
    const limiter = createMemoryFailureLimiter({ maxFailures: 0, windowMs: 1000 });
    for (let i = 0; i < 50; i++) limiter.recordFailure("192.0.2.1", 0);
    assert.equal(limiter.isBlocked("192.0.2.1", 0), false);
  });
});
