import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SpoolIndex } from "./spool-index.ts";
import type { QueuedMessage } from "./types.ts";

function message(id: string, recipients = 2): QueuedMessage {
  return {
    id,
    sender: "a@example.org",
    recipients: Array.from({ length: recipients }, (_, i) => ({
      address: `r${i}@example.com`,
      dsn: { notify: null, orcpt: null },
      state: "pending" as const,
    })),
    dsn: { ret: null, envid: null },
    bodyType: "7BIT",
    smtpUtf8: false,
    clientAddress: "127.0.0.1",
    clientHelo: "x",
    arrivedAt: 0,
    isBounce: false,
    tenant: null,
    size: 10,
    deferral: null,
    held: false,
  };
}

const at = (segment: number) => ({ segment, bodyOffset: 0, bodyLength: 10, recordLength: 100 });

describe("spool index", () => {
  it("keeps a segment with done records until the segment holding the copy is gone", () => {
    const index = new SpoolIndex();
    for (const no of [1, 2, 3]) index.addSegment(no, 0);
    index.active = 3;
    index.putCopy(message("A"), at(1));
    index.putCopy(message("B", 1), at(1));
    assert.equal(index.applyDone("A", [{ index: 0, state: "delivered" }], 2), "updated");
    assert.equal(index.applyDone("A", [{ index: 1, state: "bounced" }], 2), "removed");
    // Segment 2 has nothing live, but removing it would resurrect A from segment 1.
    assert.deepEqual(index.deletableSegments(), []);
    assert.equal(index.applyDone("B", [{ index: 0, state: "delivered" }], 3), "removed");
    assert.deepEqual(index.deletableSegments(), [1]);
    index.removeSegment(1);
    assert.deepEqual(index.deletableSegments(), [2]);
  });

  it("merges copies: newer metadata wins, final recipient states stay final", () => {
    const index = new SpoolIndex();
    index.addSegment(1, 0);
    index.addSegment(2, 0);
    index.putCopy(message("A"), at(1));
    index.applyDone("A", [{ index: 1, state: "expired" }], 1);
    const stale = message("A");
    stale.deferral = { attempts: 3, nextAttemptAt: 5, reasons: {} };
    const entry = index.putCopy(stale, at(2));
    assert.deepEqual(
      entry.message.recipients.map((r) => r.state),
      ["pending", "expired"],
    );
    assert.equal(entry.message.deferral?.attempts, 3);
    assert.deepEqual([index.segments.get(1)?.live, index.segments.get(2)?.live], [0, 1]);
  });

  it("proposes sparse, old or damaged sealed segments for compaction", () => {
    const index = new SpoolIndex();
    const policy = { liveRatio: 0.25, maxAgeMs: 1000 };
    for (const no of [1, 2, 3, 4]) index.addSegment(no, 500).size = 1000;
    index.active = 4;
    index.putCopy(message("sparse"), at(1));
    index.putCopy(message("dense"), { ...at(2), recordLength: 900 });
    index.putCopy(message("active"), at(4));
    assert.deepEqual(index.compactionCandidates(600, policy), [1]);
    assert.deepEqual(index.compactionCandidates(2000, policy), [1, 2]);
    index.segments.get(2)!.damaged = true;
    assert.deepEqual(index.compactionCandidates(600, policy), [1, 2]);
  });
});
