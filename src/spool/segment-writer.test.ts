import assert from "node:assert/strict";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { decodeJsonPayload, encodeJsonRecord, RecordType, scanRecords } from "./record.ts";
import { createSegmentWriter, type Seal, type SegmentWriterDeps, segmentFileName } from "./segment-writer.ts";
import { instrumentedFs, silentLogger, tempDir } from "./testing.ts";

function deps(dir: string, extra: Partial<SegmentWriterDeps> = {}): SegmentWriterDeps {
  return {
    dir,
    fs: instrumentedFs().fs,
    logger: silentLogger,
    now: Date.now,
    firstSegment: 1,
    segmentSize: 1024 * 1024,
    flushDelayMs: 20,
    onSegmentOpened: () => {},
    onSegmentSealed: () => {},
    ...extra,
  };
}

const record = (n: number) => encodeJsonRecord(RecordType.deferral, { id: `m${n}`, deferral: { n } });

async function ids(path: string): Promise<string[]> {
  const out: string[] = [];
  for (const item of scanRecords(await readFile(path))) {
    if (item.kind === "record" && item.type === RecordType.deferral) {
      out.push((decodeJsonPayload(item.payload) as { id: string }).id);
    }
  }
  return out;
}

describe("segment writer", () => {
  it("commits records queued during a sync together, in order, with one datasync", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const fsx = instrumentedFs();
      const writer = createSegmentWriter(deps(dir, { fs: fsx.fs }));
      await writer.append(record(0), { sync: true });
      const gate = Promise.withResolvers<void>();
      fsx.syncGate = gate.promise;
      const syncsBefore = fsx.datasyncs;
      const first = writer.append(record(1), { sync: true });
      await new Promise((resolve) => setTimeout(resolve, 10));
      const committed: number[] = [];
      const rest = Array.from({ length: 50 }, (_, i) =>
        writer.append(record(i + 2), { sync: true, onCommit: () => committed.push(i + 2) }),
      );
      fsx.syncGate = null;
      gate.resolve();
      const positions = await Promise.all([first, ...rest]);
      assert.equal(fsx.datasyncs - syncsBefore, 2, "one sync for the held batch, one for the other 50");
      assert.deepEqual(
        committed,
        Array.from({ length: 50 }, (_, i) => i + 2),
      );
      for (let i = 1; i < positions.length; i++) {
        assert.equal(positions[i]!.offset, positions[i - 1]!.offset + record(i).length);
      }
      await writer.close();
      assert.deepEqual(
        await ids(join(dir, segmentFileName(1))),
        Array.from({ length: 52 }, (_, i) => `m${i}`),
      );
    } finally {
      await cleanup();
    }
  });

  it("flushes unsynced records within the flush delay", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const writer = createSegmentWriter(deps(dir));
      const position = await writer.append(record(7), { sync: false });
      assert.equal(position.segment, 1);
      assert.deepEqual(await ids(join(dir, segmentFileName(1))), ["m7"]);
      await writer.close();
    } finally {
      await cleanup();
    }
  });

  it("rotates at the size threshold and reports opened and sealed segments", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const events: string[] = [];
      const writer = createSegmentWriter(
        deps(dir, {
          firstSegment: 5,
          segmentSize: 100,
          onSegmentOpened: (no) => events.push(`open ${no}`),
          onSegmentSealed: (no) => events.push(`seal ${no}`),
        }),
      );
      for (let i = 0; i < 3; i++) await writer.append(record(i), { sync: true });
      await writer.close();
      assert.deepEqual(events, ["open 5", "open 6", "seal 5", "open 7", "seal 6"]);
      assert.deepEqual((await readdir(dir)).sort(), [5, 6, 7].map(segmentFileName));
    } finally {
      await cleanup();
    }
  });

  it("rejects a failed batch and truncates it away", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const fsx = instrumentedFs();
      const writer = createSegmentWriter(deps(dir, { fs: fsx.fs }));
      await writer.append(record(0), { sync: true });
      const path = join(dir, segmentFileName(1));
      const size = (await stat(path)).size;
      fsx.failWrites = 1;
      await assert.rejects(writer.append(record(1), { sync: true }), { code: "SPOOL_WRITE_FAILED" });
      assert.equal((await stat(path)).size, size);
      await writer.append(record(2), { sync: true });
      await writer.close();
      assert.deepEqual(await ids(path), ["m0", "m2"]);
    } finally {
      await cleanup();
    }
  });

  it("seals the segment in the next segment's start record when truncation fails", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const fsx = instrumentedFs();
      const opened: [number, Seal[]][] = [];
      const writer = createSegmentWriter(
        deps(dir, { fs: fsx.fs, onSegmentOpened: (no, _at, seals) => opened.push([no, seals]) }),
      );
      await writer.append(record(0), { sync: true });
      const validLength = (await stat(join(dir, segmentFileName(1)))).size;
      fsx.failWrites = 1;
      fsx.failTruncates = 1;
      await assert.rejects(writer.append(record(1), { sync: true }), { code: "SPOOL_WRITE_FAILED" });
      const position = await writer.append(record(2), { sync: true });
      await writer.close();
      assert.equal(position.segment, 2);
      assert.deepEqual(opened, [
        [1, []],
        [2, [{ segment: 1, validLength }]],
      ]);
    } finally {
      await cleanup();
    }
  });

  it("rejects appends after close", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const writer = createSegmentWriter(deps(dir));
      await writer.close();
      await assert.rejects(writer.append(record(1), { sync: true }), { code: "SPOOL_CLOSED" });
    } finally {
      await cleanup();
    }
  });
});
