import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createInstanceClock, TEST_CLOCK_ENV } from "./clock.ts";

describe("instance clock", () => {
  it("is real time and cannot be moved without the test variable", () => {
    const clock = createInstanceClock({});
    assert.equal(clock.advance, undefined);
    assert.ok(Math.abs(clock.now() - Date.now()) < 50);
  });

  it("moves forward on request with the test variable, never back", () => {
    const clock = createInstanceClock({ [TEST_CLOCK_ENV]: "1" });
    const day = 86_400_000;
    const moved = clock.advance?.(day) ?? 0;
    assert.ok(moved - Date.now() > day - 50);
    assert.ok(clock.now() - Date.now() > day - 50);
    assert.throws(() => clock.advance?.(-1), RangeError);
  });
});
