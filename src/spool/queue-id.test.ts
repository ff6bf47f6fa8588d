import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createQueueIdGenerator, isQueueId, queueIdTime } from "./queue-id.ts";

describe("queue ids", () => {
  it("are 20 uppercase base32 chars that encode the arrival time", () => {
    const next = createQueueIdGenerator({ now: () => 1_700_000_000_123 });
    const id = next();
    assert.equal(id.length, 20);
    assert.ok(isQueueId(id), id);
    assert.equal(queueIdTime(id), 1_700_000_000_123);
    assert.equal(isQueueId("01m84400000000000000"), false);
  });

  it("strictly increase within one ms and when the clock goes backwards", () => {
    let clock = 1_700_000_000_000;
    const next = createQueueIdGenerator({ now: () => clock, random: () => 0 });
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) ids.push(next());
    clock -= 5000;
    for (let i = 0; i < 10; i++) ids.push(next());
    clock += 10_000;
    ids.push(next());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} !< ${ids[i]}`);
  });

  it("differ between generators started in the same ms (restart)", () => {
    const a = createQueueIdGenerator({ now: () => 42 });
    const b = createQueueIdGenerator({ now: () => 42 });
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      seen.add(a());
      seen.add(b());
    }
    assert.equal(seen.size, 200);
  });
});
