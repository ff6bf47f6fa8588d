/**
 * Operator actions on the spool: hold/release and delete are fsync'd before they resolve, replayed
 * after a restart, and survive compaction (the relocated copy carries the flag; a deleted message
 * never comes back, even from an older copy).
 */
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { encodeJsonRecord, encodeMessageRecord, RecordType } from "./record.ts";
import { recoverSpool } from "./recovery.ts";
import { createSpool, type SpoolOptions } from "./spool.ts";
import { nodeSpoolFs } from "./spool-fs.ts";
import { checksummedBody, instrumentedFs, sampleMessage, silentLogger, tempDir } from "./testing.ts";
import type { QueuedMessage } from "./types.ts";

function options(dir: string, extra: Partial<SpoolOptions> = {}): SpoolOptions {
  return { dir, logger: silentLogger, compactIntervalMs: 0, ...extra };
}

async function reopen(dir: string): Promise<QueuedMessage[]> {
  const spool = createSpool(options(dir));
  const { messages } = await spool.open();
  await spool.close();
  return messages;
}

describe("spool hold, release and delete", () => {
  it("a hold is fsync'd before it resolves and replayed after reopen; so is a release", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const fsx = instrumentedFs();
      const spool = createSpool(options(dir, { fs: fsx.fs }));
      await spool.open();
      const a = await spool.store(sampleMessage(2), checksummedBody());
      const b = await spool.store(sampleMessage(1), checksummedBody());
      assert.equal(a.held, false);
      const syncs = fsx.datasyncs;
      assert.equal(await spool.hold(a.id), true);
      assert.ok(fsx.datasyncs > syncs, "the HOLD record was synced before hold() resolved");
      assert.equal(a.held, true, "the spool's shared object says held");
      assert.equal(await spool.hold("NOSUCHID000000000000"), false);
      await spool.close();

      const afterHold = await reopen(dir);
      assert.deepEqual(
        afterHold.map((m) => [m.id, m.held]),
        [
          [a.id, true],
          [b.id, false],
        ],
      );

      const again = createSpool(options(dir));
      await again.open();
      assert.equal(await again.release(a.id), true);
      await again.close();
      assert.deepEqual(
        (await reopen(dir)).map((m) => m.held),
        [false, false],
      );
    } finally {
      await cleanup();
    }
  });

  it("delete drops the message durably, whatever its recipients' states", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const fsx = instrumentedFs();
      const spool = createSpool(options(dir, { fs: fsx.fs }));
      await spool.open();
      const a = await spool.store(sampleMessage(3), checksummedBody());
      const b = await spool.store(sampleMessage(1), checksummedBody());
      await spool.markRecipients(a.id, [{ index: 0, state: "delivered" }]);
      await spool.hold(a.id);
      const syncs = fsx.datasyncs;
      assert.equal(await spool.delete(a.id), true);
      assert.ok(fsx.datasyncs > syncs, "the DELETED record was synced before delete() resolved");
      await assert.rejects(spool.readBody(a.id), /not in the spool/);
      assert.equal(await spool.delete(a.id), false, "a second delete finds nothing");
      assert.equal(await spool.hold(a.id), false);
      // Bookkeeping for a deleted message is ignored.
      spool.recordDeferral(a.id, { attempts: 1, nextAttemptAt: 1, reasons: {} });
      await spool.markRecipients(a.id, [{ index: 1, state: "delivered" }]);
      await spool.close();
      assert.deepEqual(
        (await reopen(dir)).map((m) => m.id),
        [b.id],
      );
    } finally {
      await cleanup();
    }
  });

  it("compaction keeps holds and deletions once the original segments are gone", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      // Tiny segments: every message record starts a new segment; everything sealed is "old".
      const spool = createSpool(options(dir, { segmentSize: 1000, compaction: { maxAgeMs: -1 } }));
      await spool.open();
      const held = await spool.store(sampleMessage(1), checksummedBody(2000));
      const gone = await spool.store(sampleMessage(1), checksummedBody(2000));
      const plain = await spool.store(sampleMessage(1), checksummedBody(2000));
      await spool.hold(held.id);
      await spool.delete(gone.id);
      const before = spool.stats().segments.map((s) => s.no);
      // A new message rotates to a fresh active segment, so every earlier one is sealed.
      const last = await spool.store(sampleMessage(1), checksummedBody(2000));
      assert.equal(await spool.compact(), 2, "the held and the plain message were relocated");
      // Again, for the segment the HOLD and DELETED records went to (active the first time).
      await spool.compact();
      // Once the relocated copies are durable the old segments (and their HOLD/DELETED records)
      // are unlinked: the hold now lives only in the relocated copy's metadata.
      const after = spool.stats().segments.map((s) => s.no);
      for (const no of before) assert.equal(after.includes(no), false, `segment ${no} removed`);
      await spool.close();
      const recovered = await reopen(dir);
      assert.deepEqual(
        recovered.map((m) => [m.id, m.held]).sort(),
        [
          [held.id, true],
          [plain.id, false],
          [last.id, false],
        ].sort(),
      );
    } finally {
      await cleanup();
    }
  });

  it("recovery: a copy found after the DELETED record stays deleted; old metadata reads as not held", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const body = checksummedBody();
      const message = { ...sampleMessage(1), recipients: [] } as unknown as QueuedMessage;
      Object.assign(message, {
        id: "D0000000000000000000",
        size: body.length,
        deferral: null,
        recipients: [{ address: "b@example.com", dsn: { notify: null, orcpt: null }, state: "pending" }],
      });
      const legacy = { ...message, id: "L0000000000000000000" } as Partial<QueuedMessage>;
      delete legacy.held;
      const records = [
        encodeJsonRecord(RecordType.segmentStart, { segment: 1, createdAt: 0, seals: [] }),
        encodeMessageRecord(RecordType.message, message, body),
        encodeMessageRecord(RecordType.message, legacy as QueuedMessage, body),
        encodeJsonRecord(RecordType.hold, { id: message.id, held: true }),
        encodeJsonRecord(RecordType.deleted, { id: message.id }),
        encodeMessageRecord(RecordType.relocated, { ...message, held: true }, body),
      ];
      await mkdir(join(dir, "segments"), { recursive: true });
      await writeFile(
        join(dir, "segments", "00000001.log"),
        Buffer.concat(records.flatMap((r) => r.buffers)),
      );
      const result = await recoverSpool({ dir, fs: nodeSpoolFs, logger: silentLogger, now: Date.now });
      assert.deepEqual(result.quarantined, []);
      assert.deepEqual([...result.index.messages.keys()], ["L0000000000000000000"]);
      assert.equal(result.index.messages.get("L0000000000000000000")?.message.held, false);
      assert.deepEqual(await readdir(join(dir, "quarantine")), []);
    } finally {
      await cleanup();
    }
  });
});
