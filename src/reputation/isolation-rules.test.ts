import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ReputationCounts } from "../api-types/feedback.ts";
import type { IsolationConfig } from "../config/schema-reputation.ts";
import { isolationVerdict, percent } from "./isolation-rules.ts";

const config: IsolationConfig = {
  window: "24h",
  minMessages: 100,
  complaintRate: 0.01,
  hardBounceRate: 0.05,
  blocklistReplies: 10,
  action: "quarantine",
  quarantinePool: "quarantine",
};

function counts(c: Partial<ReputationCounts>): ReputationCounts {
  return { delivered: 0, deferred: 0, bounced: 0, bouncedByClass: {}, complaints: 0, ...c };
}

describe("isolation thresholds", () => {
  test("formats rates as short percentages", () => {
    assert.equal(percent(0.032), "3.2%");
    assert.equal(percent(0.003), "0.3%");
    assert.equal(percent(1 / 3), "33.33%");
  });

  test("a complaint rate over the threshold isolates, with the rate and volume in the reason", () => {
    assert.equal(
      isolationVerdict(counts({ delivered: 125, complaints: 4 }), config),
      "complaint rate 3.2% > 1% over 24h (n=125)",
    );
  });

  test("no verdict below the minimum volume, however bad the rate", () => {
    assert.equal(isolationVerdict(counts({ delivered: 99, complaints: 50 }), config), null);
    // Bounces count toward the volume.
    assert.notEqual(isolationVerdict(counts({ delivered: 90, bounced: 10, complaints: 5 }), config), null);
  });

  test("at or below the threshold: no verdict", () => {
    assert.equal(isolationVerdict(counts({ delivered: 100, complaints: 1 }), config), null);
    assert.equal(isolationVerdict(counts({ delivered: 1000, complaints: 9 }), config), null);
  });

  test("hard-bounce rate counts invalid_recipient bounces over delivered + bounced", () => {
    const c = counts({
      delivered: 90,
      bounced: 10,
      bouncedByClass: { invalid_recipient: 6, mailbox_full: 4 },
    });
    assert.equal(isolationVerdict(c, config), "hard-bounce rate 6% > 5% over 24h (n=100)");
    const ok = counts({
      delivered: 90,
      bounced: 10,
      bouncedByClass: { invalid_recipient: 5, mailbox_full: 5 },
    });
    assert.equal(isolationVerdict(ok, config), null);
  });

  test("blocklist replies count bounces of class reputation", () => {
    const c = counts({ delivered: 200, bounced: 10, bouncedByClass: { reputation: 10 } });
    assert.equal(isolationVerdict(c, config), "blocklist replies 10 >= 10 over 24h (n=210)");
    assert.equal(isolationVerdict(c, { ...config, blocklistReplies: null }), null);
  });
});
