import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ISOLATION_FILE, openIsolationStore } from "./isolation-store.ts";

describe("isolation store", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test("an isolation and its release survive reopening", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mailfleet-isolation-"));
    dirs.push(dir);
    const store = await openIsolationStore(dir);
    await store.isolate({ tenant: "bad", action: "quarantine", pool: "q", reason: "r", at: 1 });
    await store.isolate({ tenant: "worse", action: "pause", pool: null, reason: "r2", at: 2 });
    assert.ok(JSON.parse(await readFile(join(dir, ISOLATION_FILE), "utf8")).isolated.length === 2);

    const reopened = await openIsolationStore(dir);
    assert.equal(reopened.get("bad")?.pool, "q");
    assert.equal(reopened.get("worse")?.action, "pause");
    assert.equal((await reopened.release("bad", 3))?.tenant, "bad");
    assert.equal(await reopened.release("bad", 4), null);

    const third = await openIsolationStore(dir);
    assert.equal(third.get("bad"), undefined);
    assert.deepEqual(
      third.all().map((r) => r.tenant),
      ["worse"],
    );
    assert.deepEqual(
      third.events().map((e) => `${e.kind} ${e.tenant}`),
      ["isolated bad", "isolated worse", "released bad"],
    );
  });
});
