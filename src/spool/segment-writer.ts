/**
 * The single writer of the spool's append-only segment log, with group commit.
 *
 * Callers `append` encoded records and get a promise. The writer takes everything queued, writes it
 * with one positioned writev, calls datasync once, then runs each record's `onCommit` (in log order,
 * synchronously) and resolves the promises. Records queued while a sync is in flight form the next
 * batch, so N concurrent SMTP sessions share one fsync. Records appended with `sync: false` (retry
 * bookkeeping) wait for the next batch, or are flushed after `flushDelayMs`.
 *
 * A new segment is created when the active one reaches `segmentSize`; its SEGMENT_START record is
 * fsync'd and the directory is fsync'd before any record in it is acknowledged.
 *
 * If a batch fails (ENOSPC, EIO) every record in it is rejected with SPOOL_WRITE_FAILED and the
 * segment is truncated back to its pre-batch length. If even that fails, the segment is sealed and
 * the next segment's SEGMENT_START names its valid length, so recovery ignores the failed bytes.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import { type EncodedRecord, encodeJsonRecord, RecordType, type SegmentStartPayload } from "./record.ts";
import { type SpoolFileHandle, type SpoolFs, syncDirectory, writeAll } from "./spool-fs.ts";
import { SpoolError } from "./types.ts";

export interface RecordPosition {
  segment: number;
  /** Offset of the record's first byte in the segment file. */
  offset: number;
}

export interface AppendOptions {
  /** true: resolve only once fsync'd (forces a batch). false: ride along with the next batch. */
  sync: boolean;
  /** Runs synchronously, in log order, once the record is durable (before the promise resolves). */
  onCommit?: (position: RecordPosition) => void;
}

export type Seal = SegmentStartPayload["seals"][number];

export interface SegmentWriterDeps {
  /** The `segments/` directory. */
  dir: string;
  fs: SpoolFs;
  logger: Logger;
  now: () => number;
  /** Number for the first segment this writer creates (one past the highest existing). */
  firstSegment: number;
  segmentSize: number;
  flushDelayMs: number;
  /** A new segment is durable and active; `seals` were recorded in its SEGMENT_START. */
  onSegmentOpened: (segment: number, createdAt: number, seals: Seal[]) => void;
  /** A segment will get no more records; `length` is its valid length. */
  onSegmentSealed: (segment: number, length: number) => void;
}

export interface SegmentWriter {
  append(record: EncodedRecord, options: AppendOptions): Promise<RecordPosition>;
  /** The segment receiving records, or null before the first batch. */
  readonly activeSegment: number | null;
  /** Flushes queued records, then closes the active segment. Later appends reject SPOOL_CLOSED. */
  close(): Promise<void>;
}

interface Entry {
  record: EncodedRecord;
  sync: boolean;
  onCommit: ((position: RecordPosition) => void) | undefined;
  resolve: (position: RecordPosition) => void;
  reject: (error: Error) => void;
}

interface ActiveSegment {
  no: number;
  handle: SpoolFileHandle;
  size: number;
}

const MAX_BATCH_BYTES = 16 * 1024 * 1024;

export function segmentFileName(segment: number): string {
  return `${String(segment).padStart(8, "0")}.log`;
}

export function createSegmentWriter(deps: SegmentWriterDeps): SegmentWriter {
  const { fs, logger } = deps;
  const queue: Entry[] = [];
  let busy = false;
  let loop: Promise<void> = Promise.resolve();
  let flushWanted = false;
  let flushTimer: NodeJS.Timeout | null = null;
  let closed = false;
  let active: ActiveSegment | null = null;
  let nextSegment = deps.firstSegment;
  let rotateWanted = false;
  let pendingSeals: Seal[] = [];

  function hasWork(): boolean {
    return queue.length > 0 && (flushWanted || queue.some((e) => e.sync));
  }

  function kick(): void {
    if (busy) return;
    busy = true;
    loop = run().finally(() => {
      busy = false;
      if (hasWork()) kick();
    });
  }

  async function run(): Promise<void> {
    while (hasWork()) {
      flushWanted = false;
      // Everything queued, up to MAX_BATCH_BYTES (at least one record), so one huge burst does not
      // become one giant write; the rest forms the next batch right away.
      let bytes = 0;
      let take = 0;
      while (take < queue.length && (take === 0 || bytes < MAX_BATCH_BYTES)) {
        bytes += queue[take]!.record.length;
        take++;
      }
      const batch = queue.splice(0, take);
      if (queue.length > 0) flushWanted = true;
      await writeBatch(batch);
    }
  }

  function armFlushTimer(): void {
    if (flushTimer !== null) return;
    flushTimer = setTimeout(() => {
      flushTimer = null;
      flushWanted = true;
      kick();
    }, deps.flushDelayMs);
    flushTimer.unref();
  }

  function fail(batch: Entry[], cause: unknown): void {
    const reason = cause instanceof Error ? cause.message : String(cause);
    logger.error({ err: cause, records: batch.length }, "spool write failed; batch rejected");
    for (const entry of batch) {
      entry.reject(new SpoolError("SPOOL_WRITE_FAILED", `spool write failed: ${reason}`, { cause }));
    }
  }

  async function rotate(): Promise<ActiveSegment> {
    const no = nextSegment++;
    const path = join(deps.dir, segmentFileName(no));
    const seals = [...pendingSeals];
    const createdAt = deps.now();
    const start = encodeJsonRecord(RecordType.segmentStart, { segment: no, createdAt, seals });
    const handle = await fs.open(path, "wx");
    try {
      await writeAll(handle, start.buffers, 0);
      await handle.datasync();
      await syncDirectory(fs, deps.dir);
    } catch (err) {
      await handle.close().catch(() => {});
      await fs.unlink(path).catch(() => {});
      throw err;
    }
    const previous = active;
    active = { no, handle, size: start.length };
    pendingSeals = [];
    rotateWanted = false;
    deps.onSegmentOpened(no, createdAt, seals);
    if (previous !== null) {
      await previous.handle.close().catch((err: unknown) => logger.warn({ err }, "closing segment failed"));
      deps.onSegmentSealed(previous.no, previous.size);
    }
    return active;
  }

  /** Undo a failed batch: truncate to the pre-batch length, or seal the segment if that fails. */
  async function rollback(segment: ActiveSegment, length: number): Promise<void> {
    try {
      await segment.handle.truncate(length);
      await segment.handle.datasync();
    } catch (err) {
      logger.error({ err, segment: segment.no, length }, "could not truncate failed batch; sealing segment");
      pendingSeals.push({ segment: segment.no, validLength: length });
      rotateWanted = true;
    }
  }

  async function writeBatch(batch: Entry[]): Promise<void> {
    let segment: ActiveSegment;
    try {
      segment = active === null || rotateWanted || active.size >= deps.segmentSize ? await rotate() : active;
    } catch (err) {
      fail(batch, err);
      return;
    }
    const start = segment.size;
    const buffers = batch.flatMap((e) => e.record.buffers);
    try {
      await writeAll(segment.handle, buffers, start);
      await segment.handle.datasync();
    } catch (err) {
      await rollback(segment, start);
      fail(batch, err);
      return;
    }
    let offset = start;
    for (const entry of batch) {
      const position = { segment: segment.no, offset };
      offset += entry.record.length;
      segment.size = offset;
      try {
        entry.onCommit?.(position);
      } catch (err) {
        logger.error({ err }, "spool commit callback failed");
      }
      entry.resolve(position);
    }
  }

  return {
    get activeSegment() {
      return active?.no ?? null;
    },
    append(record, options) {
      if (closed) return Promise.reject(new SpoolError("SPOOL_CLOSED", "spool is closed"));
      return new Promise<RecordPosition>((resolve, reject) => {
        queue.push({ record, sync: options.sync, onCommit: options.onCommit, resolve, reject });
        if (options.sync) kick();
        else armFlushTimer();
      });
    },
    async close() {
      closed = true;
      flushWanted = true;
      kick();
      while (busy) await loop;
      if (flushTimer !== null) clearTimeout(flushTimer);
      flushTimer = null;
      if (active !== null) {
        await active.handle.close().catch((err: unknown) => logger.warn({ err }, "closing segment failed"));
        active = null;
      }
    },
  };
}
