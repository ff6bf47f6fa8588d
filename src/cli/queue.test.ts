import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { QueueListing } from "../api-types/queue.ts";
import { CliError } from "./exit-codes.ts";
import { formatMailq } from "./mailq.ts";
import { formatSummary, parseSelection } from "./queue.ts";

const ID = "01HZX3K9ZQ0000ABCDEF";

describe("queue command", () => {
  it("takes ids in any case (deduplicated) or --all, never both or neither", () => {
    assert.deepEqual(parseSelection([ID.toLowerCase(), ID], false), { ids: [ID] });
    assert.deepEqual(parseSelection([], true), { all: true });
    for (const [ids, all, message] of [
      [[ID], true, /not both/],
      [[], false, /give queue ids or --all/],
      [["nope"], false, /not a queue id: NOPE/],
    ] as const) {
      assert.throws(
        () => parseSelection([...ids], all),
        (err: unknown) => err instanceof CliError && err.exitCode === 64 && message.test(err.message),
      );
    }
  });

  it("prints the summary like qshape: bucket header, TOTAL, then domains", () => {
    const text = formatSummary({
      instance: "main",
      bucketLabels: ["5", "10", "10+"],
      rows: [
        { domain: "example.com", total: 12, counts: [10, 0, 2] },
        { domain: "b.test", total: 1, counts: [0, 1, 0] },
      ],
      totals: { total: 13, counts: [10, 1, 2] },
    });
    assert.equal(
      text,
      [
        "             T  5 10 10+",
        "      TOTAL 13 10  1   2",
        "example.com 12 10  0   2",
        "     b.test  1  0  1   0",
      ].join("\n"),
    );
  });

  it("marks held mail with ! and mail in delivery with * in mailq", () => {
    const message = (id: string, active: boolean, held: boolean) => ({
      id,
      size: 100,
      arrivedAt: "2024-01-02T03:04:05.000Z",
      sender: "",
      active,
      held,
      attempts: 0,
      nextAttemptAt: null,
      recipients: [{ address: "a@b.test", state: "pending" as const, lastReason: null }],
    });
    const listing: QueueListing = {
      instance: "main",
      total: 3,
      messages: [
        message("A".repeat(20), false, true),
        message("B".repeat(20), true, false),
        message("C".repeat(20), false, false),
      ],
    };
    const lines = formatMailq(listing).split("\n");
    assert.match(lines[1]!, /^A{20}! +100 2024-01-02 03:04:05 {2}MAILER-DAEMON$/);
    assert.match(lines[4]!, /^B{20}\* /);
    assert.match(lines[7]!, /^C{20} {2}/);
  });
});
