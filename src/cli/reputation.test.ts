import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ReputationCounts } from "../api-types/feedback.ts";
import { formatReputation } from "./reputation.ts";

const zero: ReputationCounts = { delivered: 0, deferred: 0, bounced: 0, bouncedByClass: {}, complaints: 0 };

describe("mailfleet reputation (text)", () => {
  it("prints one line per IP, tenant and provider with the three windows", () => {
    const day: ReputationCounts = {
      delivered: 10,
      deferred: 2,
      bounced: 1,
      bouncedByClass: { invalid_recipient: 1 },
      complaints: 1,
    };
    const text = formatReputation({
      instance: "main",
      at: 0,
      bucketMs: 300_000,
      rows: [{ dimension: "tenant", key: "shop", windows: { "1h": zero, "24h": day, "7d": day } }],
    });
    const [header, row, legend] = text.split("\n");
    assert.match(header!, /1h\s+24h\s+7d$/);
    assert.match(row!, /^tenant\s+shop\s+0\/0\/0\/0\s+10\/2\/1\(invalid_recipient=1\)\/1\s+10\/2\/1/);
    assert.match(legend!, /delivered\/deferred\/bounced/);
  });

  it("says when nothing was counted", () => {
    assert.match(
      formatReputation({ instance: "main", at: 0, bucketMs: 300_000, rows: [] }),
      /no mail counted/,
    );
  });
});
