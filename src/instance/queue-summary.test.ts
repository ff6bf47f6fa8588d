import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RecipientState } from "../message/types.ts";
import { ageBucket, queueSummary } from "./queue-summary.ts";

const MIN = 60_000;
const now = 1_700_000_000_000;

function message(ageMinutes: number, recipients: [string, RecipientState][]) {
  return {
    arrivedAt: now - ageMinutes * MIN,
    recipients: recipients.map(([address, state]) => ({
      address,
      state,
      dsn: { notify: null, orcpt: null },
    })),
  };
}

describe("queue summary", () => {
  it("puts ages into qshape's buckets: 0-5, 5-10, ... 160-320, 320+ minutes", () => {
    assert.equal(ageBucket(0), 0);
    assert.equal(ageBucket(5 * MIN - 1), 0);
    assert.equal(ageBucket(5 * MIN), 1);
    assert.equal(ageBucket(19 * MIN), 2);
    assert.equal(ageBucket(20 * MIN), 3);
    assert.equal(ageBucket(319 * MIN), 6);
    assert.equal(ageBucket(320 * MIN), 7);
    assert.equal(ageBucket(100_000 * MIN), 7);
  });

  it("counts pending recipients per domain and age, rows sorted by total", () => {
    const summary = queueSummary(
      "out",
      [
        message(1, [
          ["a@Example.com", "pending"],
          ["b@example.com", "delivered"],
          ["c@other.test", "pending"],
        ]),
        message(7, [["d@example.com", "pending"]]),
        message(400, [
          ["e@example.com", "pending"],
          ["f@zzz.test", "pending"],
          ["g@zzz.test", "bounced"],
        ]),
        message(30, [["weird", "pending"]]),
        // Arrival in the future (clock skew) counts as new.
        message(-3, [["h@other.test", "pending"]]),
      ],
      now,
    );
    assert.equal(summary.instance, "out");
    assert.deepEqual(summary.bucketLabels, ["5", "10", "20", "40", "80", "160", "320", "320+"]);
    assert.deepEqual(summary.rows, [
      { domain: "example.com", total: 3, counts: [1, 1, 0, 0, 0, 0, 0, 1] },
      { domain: "other.test", total: 2, counts: [2, 0, 0, 0, 0, 0, 0, 0] },
      { domain: "(none)", total: 1, counts: [0, 0, 0, 1, 0, 0, 0, 0] },
      { domain: "zzz.test", total: 1, counts: [0, 0, 0, 0, 0, 0, 0, 1] },
    ]);
    assert.deepEqual(summary.totals, { total: 7, counts: [3, 1, 0, 1, 0, 0, 0, 2] });
  });

  it("an empty queue has no rows and zero totals", () => {
    const summary = queueSummary("main", [], now);
    assert.deepEqual(summary.rows, []);
    assert.deepEqual(summary.totals, { total: 0, counts: [0, 0, 0, 0, 0, 0, 0, 0] });
  });
});
