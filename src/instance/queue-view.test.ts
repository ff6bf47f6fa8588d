import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { QueueEntry } from "../scheduler/scheduler.ts";
import type { QueuedMessage } from "../spool/types.ts";
import { queueListing } from "./queue-view.ts";

function entry(id: string, arrivedAt: number): QueueEntry {
  const message = {
    id,
    arrivedAt,
    size: 100,
    sender: "s@example.com",
    held: false,
    deferral: null,
    recipients: [{ address: "r@example.com", state: "pending", dsn: { notify: null, orcpt: null } }],
  } as unknown as QueuedMessage;
  return { message, active: false };
}

describe("queue listing", () => {
  // Arrival times in a scrambled order, two of them equal (then the id decides).
  const times = [50, 10, 90, 30, 30, 70, 0, 60, 20, 80];
  const entries = times.map((t, i) => entry(`ID${String(i).padStart(2, "0")}`, 1_700_000_000_000 + t));
  const order = (limit: number | null) => queueListing("main", entries, limit).messages.map((m) => m.id);

  it("lists every message oldest first, the id breaking ties", () => {
    assert.deepEqual(order(null), [
      "ID06",
      "ID01",
      "ID08",
      "ID03",
      "ID04",
      "ID00",
      "ID07",
      "ID05",
      "ID09",
      "ID02",
    ]);
  });

  it("with a limit, the same first messages and the total of all", () => {
    for (const limit of [0, 1, 3, 4, 10, 50]) {
      assert.deepEqual(order(limit), order(null).slice(0, limit), `limit ${limit}`);
      assert.equal(queueListing("main", entries, limit).total, 10);
    }
  });
});
