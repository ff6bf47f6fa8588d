import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { openSuppressionList, replayJournal } from "./suppression.ts";

describe("suppression list", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-suppression-"));
  after(() => rm(dir, { recursive: true, force: true }));

  it("keeps one list per tenant, case-insensitive, durable across reopen", async () => {
    const file = join(dir, "a.jsonl");
    const list = await openSuppressionList(file);
    await list.add({
      tenant: "acme",
      address: "X@Example.COM",
      reason: "hard_bounce",
      addedAt: 1,
      detail: "550 5.1.1",
    });
    await list.add({ tenant: null, address: "y@example.com", reason: "manual", addedAt: 2, detail: "" });
    assert.ok(list.has("acme", "<x@example.com>"));
    assert.ok(!list.has("other", "x@example.com"));
    assert.ok(!list.has(null, "x@example.com"));
    assert.ok(list.has(null, "Y@example.com"));
    assert.equal(list.get("acme", "x@example.com")?.reason, "hard_bounce");
    // A second add of the same address keeps the first entry.
    await list.add({ tenant: "acme", address: "x@example.com", reason: "complaint", addedAt: 3, detail: "" });
    assert.equal(list.get("acme", "x@example.com")?.addedAt, 1);
    assert.equal(await list.remove(null, "y@example.com"), true);
    assert.equal(await list.remove(null, "y@example.com"), false);
    await list.close();

    const again = await openSuppressionList(file);
    assert.deepEqual(
      again.list().map((e) => [e.tenant, e.address, e.reason]),
      [["acme", "x@example.com", "hard_bounce"]],
    );
    assert.deepEqual(again.list("acme").length, 1);
    assert.deepEqual(again.list(null).length, 0);
    await again.close();
    // Compacted on open: the removed entry left no line behind.
    const lines = (await readFile(file, "utf8")).trim().split("\n");
    assert.equal(lines.length, 1);
  });

  it("drops a torn last line and unknown records", async () => {
    const file = join(dir, "torn.jsonl");
    await writeFile(
      file,
      '{"op":"add","tenant":"t","address":"a@x.test","reason":"manual","addedAt":1,"detail":""}\n{"op":"add","tenant":"t","addr',
    );
    let skipped = 0;
    const list = await openSuppressionList(file, { onSkipped: (n) => (skipped = n) });
    assert.equal(skipped, 1);
    assert.ok(list.has("t", "a@x.test"));
    await list.close();
  });

  it("replays adds and removes in order", () => {
    const { entries } = replayJournal(
      [
        '{"op":"add","tenant":null,"address":"a@x.test","reason":"manual","addedAt":1,"detail":""}',
        '{"op":"remove","tenant":null,"address":"a@x.test","at":2}',
        '{"op":"add","tenant":null,"address":"a@x.test","reason":"complaint","addedAt":3,"detail":"abuse"}',
      ].join("\n"),
    );
    assert.equal([...entries.values()][0]?.reason, "complaint");
  });
});
