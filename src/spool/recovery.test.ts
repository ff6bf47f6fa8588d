import assert from "node:assert/strict";
import { mkdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { encodeJsonRecord, encodeMessageRecord, encodeRecord, RecordType, scanRecords } from "./record.ts";
import { recoverSpool } from "./recovery.ts";
import { nodeSpoolFs } from "./spool-fs.ts";
import { bodyIsIntact, checksummedBody, silentLogger, tempDir } from "./testing.ts";
import type { QueuedMessage } from "./types.ts";

function meta(id: string, size: number): QueuedMessage {
  return {
    id,
    sender: "a@example.org",
    recipients: [{ address: "b@example.com", dsn: { notify: null, orcpt: null }, state: "pending" }],
    dsn: { ret: null, envid: null },
    bodyType: "7BIT",
    smtpUtf8: false,
    clientAddress: "127.0.0.1",
    clientHelo: "x",
    arrivedAt: 1,
    isBounce: false,
    tenant: null,
    size,
    deferral: null,
    held: false,
  };
}

function messageRecord(id: string, body: Buffer): Buffer {
  return Buffer.concat(encodeMessageRecord(RecordType.message, meta(id, body.length), body).buffers);
}

function startRecord(segment: number): Buffer {
  return Buffer.concat(
    encodeJsonRecord(RecordType.segmentStart, { segment, createdAt: 0, seals: [] }).buffers,
  );
}

async function writeSegments(dir: string, segments: Buffer[][]): Promise<string[]> {
  await mkdir(join(dir, "segments"), { recursive: true });
  const paths: string[] = [];
  for (const [i, records] of segments.entries()) {
    const path = join(dir, "segments", `${String(i + 1).padStart(8, "0")}.log`);
    await writeFile(path, Buffer.concat([startRecord(i + 1), ...records]));
    paths.push(path);
  }
  return paths;
}

const recover = (dir: string) => recoverSpool({ dir, fs: nodeSpoolFs, logger: silentLogger, now: Date.now });

describe("spool recovery", () => {
  it("truncates a torn record at the tail of the newest segment", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const a = messageRecord("A0000000000000000000", checksummedBody());
      const b = messageRecord("B0000000000000000000", checksummedBody());
      const [path] = await writeSegments(dir, [[a, b]]);
      const full = (await stat(path!)).size;
      await truncate(path!, full - Math.floor(b.length / 2));
      const result = await recover(dir);
      assert.deepEqual([...result.index.messages.keys()], ["A0000000000000000000"]);
      assert.deepEqual(result.quarantined, []);
      assert.equal((await stat(path!)).size, full - b.length, "torn bytes removed from the file");
    } finally {
      await cleanup();
    }
  });

  it("quarantines a corrupt record in the middle and recovers the records around it", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const bodies = [checksummedBody(), checksummedBody(), checksummedBody()];
      const records = bodies.map((body, i) => messageRecord(`${"ABC"[i]}0000000000000000000`, body));
      const flipped = Buffer.from(records[1]!);
      flipped[flipped.length - 10]! ^= 0xff;
      const badJson = Buffer.concat(
        encodeRecord(RecordType.recipientsDone, [Buffer.from("{not json")]).buffers,
      );
      await writeSegments(dir, [[records[0]!, flipped, badJson, records[2]!], [records[1]!.subarray(0, 30)]]);
      const result = await recover(dir);
      assert.deepEqual([...result.index.messages.keys()].sort(), [
        "A0000000000000000000",
        "C0000000000000000000",
      ]);
      assert.equal(result.quarantined.length, 2);
      const saved = await readFile(result.quarantined[0]!.file);
      assert.deepEqual(saved, flipped);
      assert.match(result.quarantined[0]!.file, /quarantine\/00000001-\d+\.bin$/);
      assert.match(result.quarantined[0]!.reason, /crc mismatch/);
      assert.match(result.quarantined[1]!.reason, /JSON/);
      // The body offsets point at intact bodies.
      const c = result.index.messages.get("C0000000000000000000")!;
      const segment = await readFile(join(dir, "segments", "00000001.log"));
      const body = segment.subarray(c.location.bodyOffset, c.location.bodyOffset + c.location.bodyLength);
      assert.ok(bodyIsIntact(body));
      assert.ok(result.index.segments.get(1)?.damaged, "damaged segment is marked for compaction");
    } finally {
      await cleanup();
    }
  });

  it("keeps recipients final across copies and ignores bytes past a seal", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const body = checksummedBody();
      const id = "D0000000000000000000";
      const twoRecipients = meta(id, body.length);
      twoRecipients.recipients.push({ ...twoRecipients.recipients[0]!, address: "c@example.com" });
      const original = Buffer.concat(encodeMessageRecord(RecordType.message, twoRecipients, body).buffers);
      const done = Buffer.concat(
        encodeJsonRecord(RecordType.recipientsDone, { id, updates: [{ index: 1, state: "delivered" }] })
          .buffers,
      );
      // A stale relocated copy (written before the done record committed) still says pending.
      const relocated = Buffer.concat(encodeMessageRecord(RecordType.relocated, twoRecipients, body).buffers);
      const failedBatch = messageRecord("E0000000000000000000", checksummedBody());
      const paths = await writeSegments(dir, [[original, done, failedBatch], []]);
      const validLength = startRecord(1).length + original.length + done.length;
      const sealing = encodeJsonRecord(RecordType.segmentStart, {
        segment: 2,
        createdAt: 0,
        seals: [{ segment: 1, validLength }],
      });
      await writeFile(paths[1]!, Buffer.concat([...sealing.buffers, relocated]));
      const result = await recover(dir);
      assert.deepEqual([...result.index.messages.keys()], [id]);
      const entry = result.index.messages.get(id)!;
      assert.deepEqual(
        entry.message.recipients.map((r) => r.state),
        ["pending", "delivered"],
      );
      assert.equal(entry.location.segment, 2, "the later copy holds the body");
      assert.equal((await stat(paths[0]!)).size, validLength, "sealed bytes truncated");
      assert.equal([...scanRecords(await readFile(paths[0]!))].length, 3);
    } finally {
      await cleanup();
    }
  });
});
