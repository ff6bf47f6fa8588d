import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createSpool, type SpoolOptions } from "./spool.ts";
import {
  bodyIsIntact,
  checksummedBody,
  instrumentedFs,
  sampleMessage,
  silentLogger,
  tempDir,
} from "./testing.ts";
import { SpoolError } from "./types.ts";

function options(dir: string, extra: Partial<SpoolOptions> = {}): SpoolOptions {
  return { dir, logger: silentLogger, compactIntervalMs: 0, ...extra };
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, "segments"))).sort();
}

describe("spool", () => {
  it("recovers identical metadata and body after close and reopen", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const spool = createSpool(options(dir));
      assert.deepEqual((await spool.open()).messages, []);
      const body = checksummedBody(5000);
      const stored = await spool.store(sampleMessage(3, { sender: "" }), body);
      assert.equal(stored.id.length, 20);
      assert.equal(stored.size, body.length);
      assert.deepEqual(await spool.readBody(stored.id), body);
      await spool.close();

      const again = createSpool(options(dir));
      const report = await again.open();
      assert.deepEqual(report.messages, [stored]);
      assert.deepEqual(report.quarantined, []);
      assert.deepEqual(await again.readBody(stored.id), body);
      await again.close();
    } finally {
      await cleanup();
    }
  });

  it("keeps only pending recipients, drops finished messages and removes their old segment", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const spool = createSpool(options(dir));
      await spool.open();
      const a = await spool.store(sampleMessage(3), checksummedBody());
      const b = await spool.store(sampleMessage(1), checksummedBody());
      await spool.markRecipients(a.id, [
        { index: 0, state: "delivered" },
        { index: 2, state: "bounced" },
      ]);
      spool.recordDeferral(a.id, { attempts: 2, nextAttemptAt: 123, reasons: { 1: "451 try later" } });
      await spool.markRecipients(b.id, [{ index: 0, state: "delivered" }]);
      await assert.rejects(spool.readBody(b.id), /not in the spool/);
      await spool.close();

      const second = createSpool(options(dir));
      const { messages } = await second.open();
      assert.equal(messages.length, 1);
      assert.equal(messages[0]?.id, a.id);
      assert.deepEqual(
        messages[0]?.recipients.map((r) => r.state),
        ["delivered", "pending", "bounced"],
      );
      assert.deepEqual(messages[0]?.deferral, {
        attempts: 2,
        nextAttemptAt: 123,
        reasons: { 1: "451 try later" },
      });
      const firstSegments = await segmentFiles(dir);
      await second.markRecipients(a.id, [{ index: 1, state: "expired" }]);
      await second.close();
      // The segment that held both messages is sealed (not active) and has nothing live: removed.
      const after = await segmentFiles(dir);
      assert.ok(!after.includes(firstSegments[0] ?? "missing"), `${firstSegments[0]} should be gone`);

      const third = createSpool(options(dir));
      assert.deepEqual((await third.open()).messages, []);
      await third.close();
    } finally {
      await cleanup();
    }
  });

  it("group-commits concurrent stores into far fewer datasyncs", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const fsx = instrumentedFs();
      const spool = createSpool(options(dir, { fs: fsx.fs }));
      await spool.open();
      const stores = 200;
      const before = fsx.datasyncs;
      const results = await Promise.all(
        Array.from({ length: stores }, () => spool.store(sampleMessage(1), checksummedBody(500))),
      );
      const syncs = fsx.datasyncs - before;
      assert.equal(new Set(results.map((m) => m.id)).size, stores);
      assert.ok(syncs < stores / 4, `expected far fewer than ${stores} syncs, got ${syncs}`);
      await spool.close();
    } finally {
      await cleanup();
    }
  });

  it("rejects a batch hit by ENOSPC, keeps working, and never recovers the failed messages", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const fsx = instrumentedFs();
      const spool = createSpool(options(dir, { fs: fsx.fs }));
      await spool.open();
      const warm = await spool.store(sampleMessage(1), checksummedBody());
      // Hold the next batch in its datasync so the next ten stores form one batch, then fail that.
      const gate = Promise.withResolvers<void>();
      fsx.syncGate = gate.promise;
      const keptPromise = spool.store(sampleMessage(1), checksummedBody());
      await new Promise((resolve) => setTimeout(resolve, 10));
      const failedPromise = Promise.allSettled(
        Array.from({ length: 10 }, () => spool.store(sampleMessage(1), checksummedBody())),
      );
      fsx.failWrites = 1;
      fsx.syncGate = null;
      gate.resolve();
      const kept = await keptPromise;
      const failed = await failedPromise;
      for (const result of failed) {
        assert.equal(result.status, "rejected");
        assert.ok(result.reason instanceof SpoolError);
        assert.equal(result.reason.code, "SPOOL_WRITE_FAILED");
      }
      const later = await spool.store(sampleMessage(1), checksummedBody());
      await spool.close();

      const again = createSpool(options(dir));
      const report = await again.open();
      assert.deepEqual(report.messages.map((m) => m.id).sort(), [warm.id, kept.id, later.id].sort());
      assert.deepEqual(report.quarantined, []);
      assert.ok(bodyIsIntact(await again.readBody(later.id)));
      await again.close();
    } finally {
      await cleanup();
    }
  });

  it("seals the segment when a failed batch cannot be truncated away", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const fsx = instrumentedFs();
      const spool = createSpool(options(dir, { fs: fsx.fs }));
      await spool.open();
      const kept = await spool.store(sampleMessage(1), checksummedBody());
      fsx.failWrites = 1;
      fsx.failTruncates = 1;
      await assert.rejects(spool.store(sampleMessage(1), checksummedBody()), { code: "SPOOL_WRITE_FAILED" });
      const later = await spool.store(sampleMessage(1), checksummedBody());
      assert.equal((await segmentFiles(dir)).length, 2, "a new segment was started");
      await spool.close();

      const again = createSpool(options(dir));
      const report = await again.open();
      assert.deepEqual(report.messages.map((m) => m.id).sort(), [kept.id, later.id].sort());
      assert.deepEqual(report.quarantined, []);
      await again.close();
    } finally {
      await cleanup();
    }
  });

  it("refuses a second open of the same spool with SPOOL_LOCKED", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const first = createSpool(options(dir));
      await first.open();
      const second = createSpool(options(dir));
      await assert.rejects(second.open(), (err: unknown) => {
        assert.ok(err instanceof SpoolError);
        assert.equal(err.code, "SPOOL_LOCKED");
        assert.match(err.message, new RegExp(`process ${process.pid}`));
        return true;
      });
      await first.close();
      await assert.rejects(first.store(sampleMessage(), checksummedBody()), { code: "SPOOL_CLOSED" });
    } finally {
      await cleanup();
    }
  });

  it("compaction relocates survivors and unlinks the old segment", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const spool = createSpool(options(dir, { segmentSize: 64 * 1024 }));
      await spool.open();
      const stored = [];
      for (let i = 0; i < 40; i++) stored.push(await spool.store(sampleMessage(2), checksummedBody(3000)));
      const segmentsBefore = spool.stats().segments.map((s) => s.no);
      assert.ok(segmentsBefore.length >= 3, `expected rotation, got ${segmentsBefore.length} segments`);
      const oldest = segmentsBefore[0];
      // Finish everything except the first message (which lives in the oldest segment).
      const survivorId = stored[0]!.id;
      for (const m of stored.slice(1)) {
        await spool.markRecipients(m.id, [
          { index: 0, state: "delivered" },
          { index: 1, state: "delivered" },
        ]);
      }
      await spool.markRecipients(survivorId, [{ index: 1, state: "bounced" }]);
      spool.recordDeferral(survivorId, { attempts: 1, nextAttemptAt: 99, reasons: { 0: "421 busy" } });
      assert.ok(
        spool.stats().segments.some((s) => s.no === oldest),
        "oldest segment is pinned by its survivor",
      );
      const relocated = await spool.compact();
      assert.equal(relocated, 1);
      assert.ok(!spool.stats().segments.some((s) => s.no === oldest), "oldest segment removed");
      const body = await spool.readBody(survivorId);
      assert.ok(bodyIsIntact(body));
      await spool.close();

      const again = createSpool(options(dir));
      const { messages } = await again.open();
      assert.equal(messages.length, 1);
      assert.equal(messages[0]?.id, survivorId);
      assert.deepEqual(
        messages[0]?.recipients.map((r) => r.state),
        ["pending", "bounced"],
      );
      assert.deepEqual(messages[0]?.deferral, { attempts: 1, nextAttemptAt: 99, reasons: { 0: "421 busy" } });
      assert.ok(bodyIsIntact(await again.readBody(survivorId)));
      assert.deepEqual(await again.readBody(survivorId), body);
      await again.close();
    } finally {
      await cleanup();
    }
  });

  it("reports free bytes of the spool file system", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const spool = createSpool(options(dir));
      await spool.open();
      assert.ok((await spool.freeBytes()) > 0);
      await spool.close();
    } finally {
      await cleanup();
    }
  });
});
