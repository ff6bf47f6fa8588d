/**
 * Background recovery (OpenOptions.onRecovered): the spool takes new mail while old segments are
 * still being replayed, new mail lands in segments above the old ones, and everything is durable.
 * The replay is held at a gate (a real file system whose readFile of the oldest segment waits), so
 * "recovery still running" is a fact of the test, not a timing guess.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSpool, type SpoolOptions } from "./spool.ts";
import { nodeSpoolFs, type SpoolFs } from "./spool-fs.ts";
import { bodyIsIntact, checksummedBody, sampleMessage, silentLogger, tempDir } from "./testing.ts";
import type { QueuedMessage } from "./types.ts";

function options(dir: string, extra: Partial<SpoolOptions> = {}): SpoolOptions {
  return { dir, logger: silentLogger, compactIntervalMs: 0, segmentSize: 16 * 1024, ...extra };
}

/** A real fs whose readFile of segment 1 waits until `release()`. */
function gatedFs(): { fs: SpoolFs; release: () => void; reached: Promise<void> } {
  let release = () => {};
  let reach = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const reached = new Promise<void>((resolve) => {
    reach = resolve;
  });
  const fs: SpoolFs = {
    ...nodeSpoolFs,
    async readFile(path) {
      if (path.endsWith("00000001.log")) {
        reach();
        await gate;
      }
      return nodeSpoolFs.readFile(path);
    },
  };
  return { fs, release, reached };
}

async function fillOld(dir: string, count: number): Promise<QueuedMessage[]> {
  const spool = createSpool(options(dir));
  await spool.open();
  const stored: QueuedMessage[] = [];
  // One at a time, so the batches (and with 16 KiB segments, the segments) are many.
  for (let i = 0; i < count; i++) stored.push(await spool.store(sampleMessage(1), checksummedBody(3000)));
  const lastOld = spool.stats().activeSegment;
  assert.ok(lastOld !== null && lastOld > 1, "the old queue should span several segments");
  await spool.close();
  return stored;
}

describe("spool background recovery", () => {
  it("stores new mail while old segments are replayed, and both survive a reopen", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const old = await fillOld(dir, 40);
      const gated = gatedFs();
      const batches: QueuedMessage[][] = [];
      const spool = createSpool(options(dir, { fs: gated.fs }));
      const report = await spool.open({ onRecovered: (batch) => batches.push(batch) });
      assert.deepEqual(report.messages, []);
      await gated.reached;
      assert.equal(spool.recovering, true);

      const fresh = await Promise.all(
        Array.from({ length: 5 }, () => spool.store(sampleMessage(1), checksummedBody(3000))),
      );
      assert.equal(spool.recovering, true, "the stores must not have waited for the replay");
      assert.equal(batches.length, 0);
      const oldSegments = spool.stats().segments.filter((s) => s.no < (spool.stats().activeSegment ?? 0));
      assert.deepEqual(oldSegments, [], "old segments are not in the index before they are replayed");
      for (const m of fresh) assert.ok(bodyIsIntact(await spool.readBody(m.id)));

      gated.release();
      const summary = await spool.whenRecovered();
      assert.equal(spool.recovering, false);
      assert.equal(summary.messages, old.length);
      const handed = batches.flat();
      assert.deepEqual(
        handed.map((m) => m.id).sort(),
        old.map((m) => m.id).sort(),
        "exactly the old messages are handed over, each once",
      );
      for (const m of handed) assert.ok(bodyIsIntact(await spool.readBody(m.id)));
      await spool.markRecipients(old[0]!.id, [{ index: 0, state: "delivered" }]);
      await spool.close();

      const again = createSpool(options(dir));
      const reopened = await again.open();
      const ids = reopened.messages.map((m) => m.id).sort();
      const expected = [...old.slice(1), ...fresh].map((m) => m.id).sort();
      assert.deepEqual(ids, expected);
      for (const id of ids) assert.ok(bodyIsIntact(await again.readBody(id)));
      await again.close();
    } finally {
      await cleanup();
    }
  });

  it("new segments are numbered above every old one", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await fillOld(dir, 20);
      const before = createSpool(options(dir));
      await before.open();
      const oldNumbers = before.stats().segments.map((s) => s.no);
      await before.close();
      const gated = gatedFs();
      const spool = createSpool(options(dir, { fs: gated.fs }));
      await spool.open({ onRecovered: () => {} });
      await gated.reached;
      await spool.store(sampleMessage(1), checksummedBody(100));
      const active = spool.stats().activeSegment;
      assert.ok(active !== null && active > Math.max(...oldNumbers));
      gated.release();
      await spool.whenRecovered();
      await spool.close();
    } finally {
      await cleanup();
    }
  });

  it("close during the replay stops it and hands nothing over", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const old = await fillOld(dir, 20);
      const gated = gatedFs();
      const handed: QueuedMessage[] = [];
      const spool = createSpool(options(dir, { fs: gated.fs }));
      await spool.open({ onRecovered: (batch) => handed.push(...batch) });
      await gated.reached;
      const closing = spool.close();
      gated.release();
      await closing;
      await assert.rejects(spool.whenRecovered());
      assert.equal(handed.length, 0);
      const again = createSpool(options(dir));
      assert.equal((await again.open()).messages.length, old.length);
      await again.close();
    } finally {
      await cleanup();
    }
  });
});
