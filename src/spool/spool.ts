/**
 * The durable spool: `createSpool` wires the lock, recovery, the group-commit segment writer and the
 * in-memory index into the `Spool` contract (types.ts).
 *
 * Layout of a spool directory:
 *   lock.sock, pid       exclusive lock (lock.ts)
 *   segments/N.log       append-only record log (record.ts), the only durable state
 *   quarantine/*.bin     unreadable bytes found by recovery (recovery.ts)
 *
 * Only metadata is kept in memory; bodies are read back from the segments. When every recipient of a
 * message is final, or the operator deleted it, it leaves the index, and a segment with nothing live (see spool-index.ts for the
 * exact rule) is unlinked. Compaction re-appends the survivors of sparse or old sealed segments to the
 * active one, so long-deferred mail does not keep large files alive.
 *
 * `open({ onRecovered })` recovers in the background: after the lock, the quick part of recovery
 * (list, seals, torn tail of the newest segment) and a writer whose segments are numbered above
 * every old one, `store` works. The old segments are replayed into a separate index, adopted when
 * complete (so cleanup and compaction never see a half-replayed segment), then handed over.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import type { NewMessage, QueueId } from "../message/types.ts";
import { BodyCache } from "./body-cache.ts";
import { acquireSpoolLock, type SpoolLock } from "./lock.ts";
import { createQueueIdGenerator } from "./queue-id.ts";
import { type EncodedRecord, encodeJsonRecord, encodeMessageRecord, RecordType } from "./record.ts";
import { prepareRecovery, type RecoveryResult, replaySegments } from "./recovery.ts";
import {
  createSegmentWriter,
  type RecordPosition,
  type SegmentWriter,
  segmentFileName,
} from "./segment-writer.ts";
import { nodeSpoolFs, type SpoolFileHandle, type SpoolFs, syncDirectory } from "./spool-fs.ts";
import { type CompactionPolicy, type IndexedMessage, SpoolIndex } from "./spool-index.ts";
import {
  type DeferralInfo,
  type OpenOptions,
  type QueuedMessage,
  type RecipientUpdate,
  type RecoveryReport,
  type Spool,
  SpoolError,
} from "./types.ts";

export interface SpoolOptions {
  dir: string;
  logger: Logger;
  /** Rotate to a new segment file at this size. Default 64 MiB. */
  segmentSize?: number;
  fs?: SpoolFs;
  now?: () => number;
  /** Unsynced bookkeeping (recordDeferral) is flushed at the latest after this. Default 1000 ms. */
  deferralFlushMs?: number;
  /** How often compaction runs by itself; 0 turns the timer off. Default 10 s. */
  compactIntervalMs?: number;
  /** Default: live bytes < 25% of the segment, or segment older than 1 hour. */
  compaction?: Partial<CompactionPolicy>;
  /** Bodies of recently stored messages kept in memory for their first attempt. Default 32 MiB. */
  bodyCacheBytes?: number;
}

export interface SpoolStats {
  messages: number;
  activeSegment: number | null;
  segments: { no: number; size: number; live: number; liveBytes: number }[];
}

/** How a background recovery (OpenOptions.onRecovered) ended. */
export interface RecoverySummary {
  messages: number;
  quarantined: RecoveryReport["quarantined"];
}

/** The Spool contract plus maintenance hooks for the instance (metrics) and tests. */
export interface DurableSpool extends Spool {
  /** True while a background recovery is replaying old segments or handing messages over. */
  readonly recovering: boolean;
  /** Resolves when recovery is complete (at once after a foreground open); rejects if it failed. */
  whenRecovered(): Promise<RecoverySummary>;
  /** Runs compaction now, then removes emptied segments; resolves with the number relocated. */
  compact(): Promise<number>;
  stats(): SpoolStats;
}

const MiB = 1024 * 1024;
const COMPACTION_CHUNK_BYTES = 4 * MiB;
/** Recovered messages handed to `onRecovered` per call; the event loop gets a turn between calls. */
const HANDOVER_BATCH = 2000;

export function createSpool(options: SpoolOptions): DurableSpool {
  const fs = options.fs ?? nodeSpoolFs;
  const now = options.now ?? Date.now;
  const { logger } = options;
  const segmentsDir = join(options.dir, "segments");
  const policy: CompactionPolicy = {
    liveRatio: options.compaction?.liveRatio ?? 0.25,
    maxAgeMs: options.compaction?.maxAgeMs ?? 60 * 60 * 1000,
  };
  const nextId = createQueueIdGenerator({ now });
  let phase: "new" | "opening" | "open" | "closing" | "closed" = "new";
  const index = new SpoolIndex();
  let writer: SegmentWriter | null = null;
  let lock: SpoolLock | null = null;
  let compactTimer: NodeJS.Timeout | null = null;
  let compacting: Promise<number> | null = null;
  let cleaning: Promise<void> | null = null;
  let cleanAgain = false;
  const readers = new Map<number, Promise<SpoolFileHandle>>();
  const bodies = new BodyCache(options.bodyCacheBytes ?? 32 * 1024 * 1024);
  let recovering = false;
  let recovery: Promise<RecoverySummary> = Promise.reject(
    new SpoolError("SPOOL_CLOSED", "spool is not open"),
  );
  recovery.catch(() => {});

  function openWriter(): SegmentWriter {
    if (phase !== "open" || writer === null) throw new SpoolError("SPOOL_CLOSED", "spool is not open");
    return writer;
  }

  function append(record: EncodedRecord, sync: boolean, onCommit?: (p: RecordPosition) => void) {
    return openWriter().append(record, {
      sync,
      onCommit: (position) => {
        index.noteSize(position.segment, position.offset + record.length);
        onCommit?.(position);
      },
    });
  }

  function reader(segment: number): Promise<SpoolFileHandle> {
    let handle = readers.get(segment);
    if (handle === undefined) {
      handle = fs.open(join(segmentsDir, segmentFileName(segment)), "r");
      handle.catch(() => readers.delete(segment));
      readers.set(segment, handle);
    }
    return handle;
  }

  async function closeReader(segment: number): Promise<void> {
    const handle = readers.get(segment);
    readers.delete(segment);
    if (handle !== undefined) await (await handle.catch(() => null))?.close().catch(() => {});
  }

  async function readAt(entry: IndexedMessage): Promise<Buffer> {
    const { segment, bodyOffset, bodyLength } = entry.location;
    const handle = await reader(segment);
    const body = Buffer.allocUnsafe(bodyLength);
    let done = 0;
    while (done < bodyLength) {
      const { bytesRead } = await handle.read(body, done, bodyLength - done, bodyOffset + done);
      if (bytesRead === 0) throw new Error(`segment ${segment} ends inside a message body`);
      done += bytesRead;
    }
    return body;
  }

  /** Unlinks removable segments one by one, fsyncing the directory after each (see spool-index.ts). */
  function scheduleCleanup(): void {
    if (cleaning !== null) {
      cleanAgain = true;
      return;
    }
    cleaning = (async () => {
      do {
        cleanAgain = false;
        for (const no of index.deletableSegments()) {
          try {
            await closeReader(no);
            await fs.unlink(join(segmentsDir, segmentFileName(no))).catch((err: NodeJS.ErrnoException) => {
              if (err.code !== "ENOENT") throw err;
            });
            await syncDirectory(fs, segmentsDir);
            index.removeSegment(no);
            logger.debug({ segment: no }, "spool segment removed");
          } catch (err) {
            logger.error({ err, segment: no }, "could not remove spool segment; will retry");
            return;
          }
        }
      } while (cleanAgain || index.deletableSegments().length > 0);
    })().finally(() => {
      cleaning = null;
    });
  }

  async function compactSegment(segment: number): Promise<number> {
    let relocated = 0;
    let pending: Promise<void>[] = [];
    let pendingBytes = 0;
    for (const entry of index.liveIn(segment)) {
      if (phase !== "open") break;
      if (entry.inflight > 0) continue;
      const { id } = entry.message;
      const location = entry.location;
      const body = await readAt(entry).catch(() => null);
      // Skip what changed meanwhile; a message with an uncommitted RECIPIENTS_DONE is retried later.
      if (body === null || index.messages.get(id) !== entry || entry.location !== location) continue;
      if (entry.inflight > 0 || phase !== "open") continue;
      const record = encodeMessageRecord(RecordType.relocated, structuredClone(entry.message), body);
      const write = append(record, true, (p) =>
        index.relocate(id, {
          segment: p.segment,
          bodyOffset: p.offset + record.bodyOffset,
          bodyLength: body.length,
          recordLength: record.length,
        }),
      );
      pending.push(
        write.then(
          () => {
            relocated++;
          },
          (err: unknown) => logger.warn({ err, id }, "compaction could not relocate message"),
        ),
      );
      pendingBytes += record.length;
      if (pendingBytes >= COMPACTION_CHUNK_BYTES) {
        await Promise.all(pending);
        pending = [];
        pendingBytes = 0;
      }
    }
    await Promise.all(pending);
    return relocated;
  }

  function compact(): Promise<number> {
    if (compacting !== null) return compacting;
    compacting = (async () => {
      let relocated = 0;
      for (const segment of index.compactionCandidates(now(), policy)) {
        if (phase !== "open") break;
        relocated += await compactSegment(segment);
      }
      if (relocated > 0) logger.info({ relocated }, "spool compaction relocated messages");
      scheduleCleanup();
      while (cleaning !== null) await cleaning;
      return relocated;
    })().finally(() => {
      compacting = null;
    });
    return compacting;
  }

  /** Writes a HOLD record (fsync'd); the flag changes when it commits. */
  async function setHeld(id: QueueId, held: boolean): Promise<boolean> {
    openWriter();
    const entry = index.messages.get(id);
    if (entry === undefined) return false;
    // In flight: compaction must not copy the old flag behind the HOLD record.
    entry.inflight++;
    try {
      await append(encodeJsonRecord(RecordType.hold, { id, held }), true, (p) =>
        index.applyHold(id, held, p.segment),
      );
    } finally {
      entry.inflight--;
    }
    return true;
  }

  return {
    async open(openOptions: OpenOptions = {}): Promise<RecoveryReport> {
      if (phase !== "new") throw new Error(`spool.open() called twice (state ${phase})`);
      phase = "opening";
      await fs.mkdir(options.dir);
      lock = await acquireSpoolLock({ dir: options.dir, logger }).catch((err: unknown) => {
        phase = "new";
        throw err;
      });
      const deps = { dir: options.dir, fs, logger, now, shouldStop: () => phase === "closing" };
      let replay: Promise<RecoveryResult>;
      try {
        const prepared = await prepareRecovery(deps);
        writer = createSegmentWriter({
          dir: segmentsDir,
          fs,
          logger,
          now,
          firstSegment: prepared.lastSegment + 1,
          segmentSize: options.segmentSize ?? 64 * MiB,
          flushDelayMs: options.deferralFlushMs ?? 1000,
          onSegmentOpened: (no, createdAt, seals) => {
            index.addSegment(no, createdAt);
            for (const seal of seals) index.pin(no, seal.segment);
            index.active = no;
          },
          onSegmentSealed: (no, length) => {
            index.noteSize(no, length);
            scheduleCleanup();
          },
        });
        // Until adopted, the recovered segments are not in `index`: cleanup and compaction cannot
        // touch them, and only segments this writer created can be found removable.
        replay = replaySegments(deps, prepared).then((recovered) => {
          index.adopt(recovered.index);
          return recovered;
        });
        if (openOptions.onRecovered === undefined) await replay;
      } catch (err) {
        phase = "new";
        await writer?.close();
        writer = null;
        await lock.release();
        throw err;
      }
      phase = "open";
      scheduleCleanup();
      const interval = options.compactIntervalMs ?? 10_000;
      if (interval > 0) {
        compactTimer = setInterval(() => {
          compact().catch((err: unknown) => logger.error({ err }, "spool compaction failed"));
        }, interval);
        compactTimer.unref();
      }
      const { onRecovered } = openOptions;
      if (onRecovered === undefined) {
        const recovered = await replay;
        const messages = [...index.messages.values()].map((e) => structuredClone(e.message));
        logger.info({ messages: messages.length, quarantined: recovered.quarantined.length }, "spool open");
        recovery = Promise.resolve({ messages: messages.length, quarantined: recovered.quarantined });
        return { messages, quarantined: recovered.quarantined };
      }
      recovering = true;
      recovery = replay
        .then(async (recovered) => {
          scheduleCleanup();
          const ids = [...recovered.index.messages.keys()];
          let handed = 0;
          for (let i = 0; i < ids.length && phase === "open"; i += HANDOVER_BATCH) {
            const batch: QueuedMessage[] = [];
            for (const id of ids.slice(i, i + HANDOVER_BATCH)) {
              const entry = index.messages.get(id);
              if (entry !== undefined) batch.push(entry.message);
            }
            onRecovered(batch);
            handed += batch.length;
            await new Promise((resolve) => setImmediate(resolve));
          }
          logger.info(
            { messages: handed, quarantined: recovered.quarantined.length },
            "spool recovered in the background",
          );
          return { messages: handed, quarantined: recovered.quarantined };
        })
        .finally(() => {
          recovering = false;
        });
      recovery.catch((err: unknown) => {
        if (phase === "open")
          logger.error({ err }, "spool recovery failed: old mail stays on disk until restart");
      });
      logger.info({ segments: "recovering in the background" }, "spool open for new mail");
      return { messages: [], quarantined: [] };
    },

    async store(message: NewMessage, body: Buffer): Promise<QueuedMessage> {
      openWriter();
      if (message.recipients.length === 0) throw new RangeError("a message needs at least one recipient");
      const { recipients, ...rest } = message;
      const meta: QueuedMessage = {
        ...rest,
        id: nextId(),
        recipients: recipients.map((r) => ({ address: r.address, dsn: r.dsn, state: "pending" })),
        size: body.length,
        deferral: null,
        held: false,
      };
      const record = encodeMessageRecord(RecordType.message, meta, body);
      // Shared with the index (one object per queued message, see Spool.store in types.ts).
      await append(record, true, (p) =>
        index.putCopy(meta, {
          segment: p.segment,
          bodyOffset: p.offset + record.bodyOffset,
          bodyLength: body.length,
          recordLength: record.length,
        }),
      );
      bodies.put(meta.id, body);
      return meta;
    },

    async markRecipients(id: QueueId, updates: RecipientUpdate[]): Promise<void> {
      openWriter();
      const entry = index.messages.get(id);
      if (entry === undefined) {
        logger.debug({ id }, "markRecipients for a message no longer queued");
        return;
      }
      for (const u of updates) {
        if (entry.message.recipients[u.index] === undefined) {
          throw new RangeError(`message ${id} has no recipient index ${u.index}`);
        }
      }
      const fresh = updates.filter((u) => entry.message.recipients[u.index]?.state === "pending");
      if (fresh.length === 0) return;
      const record = encodeJsonRecord(RecordType.recipientsDone, { id, updates: fresh });
      entry.inflight++;
      try {
        await append(record, true, (p) => {
          if (index.applyDone(id, fresh, p.segment) === "removed") {
            bodies.delete(id);
            scheduleCleanup();
          }
        });
      } finally {
        entry.inflight--;
      }
    },

    hold: (id: QueueId) => setHeld(id, true),
    release: (id: QueueId) => setHeld(id, false),

    async delete(id: QueueId): Promise<boolean> {
      openWriter();
      const entry = index.messages.get(id);
      if (entry === undefined) return false;
      // Counted as in flight so compaction does not write a copy behind the DELETED record.
      entry.inflight++;
      try {
        await append(encodeJsonRecord(RecordType.deleted, { id }), true, (p) => {
          if (index.applyDelete(id, p.segment)) {
            bodies.delete(id);
            scheduleCleanup();
          }
        });
      } finally {
        entry.inflight--;
      }
      logger.info({ id }, "message deleted from the queue");
      return true;
    },

    recordDeferral(id: QueueId, deferral: DeferralInfo): void {
      if (phase !== "open" || !index.messages.has(id)) return;
      const copy = structuredClone(deferral);
      index.applyDeferral(id, copy);
      append(encodeJsonRecord(RecordType.deferral, { id, deferral: copy }), false).catch((err: unknown) =>
        logger.warn({ err, id }, "deferral bookkeeping not written"),
      );
    },

    async readBody(id: QueueId): Promise<Buffer> {
      const cached = bodies.get(id);
      if (cached !== undefined) return cached;
      for (let attempt = 0; ; attempt++) {
        const entry = index.messages.get(id);
        if (entry === undefined) throw new Error(`queue id ${id} is not in the spool`);
        const location = entry.location;
        try {
          return await readAt(entry);
        } catch (err) {
          // Compaction may have moved the body and removed the old segment meanwhile: retry once.
          if (attempt === 0 && entry.location !== location) continue;
          throw err;
        }
      }
    },

    freeBytes: () => fs.freeBytes(options.dir),

    compact,

    get recovering() {
      return recovering;
    },

    whenRecovered: () => recovery,

    stats(): SpoolStats {
      return {
        messages: index.messages.size,
        activeSegment: index.active,
        segments: [...index.segments.values()]
          .map((s) => ({ no: s.no, size: s.size, live: s.live, liveBytes: s.liveBytes }))
          .sort((a, b) => a.no - b.no),
      };
    },

    async close(): Promise<void> {
      if (phase !== "open") return;
      phase = "closing";
      if (compactTimer !== null) clearInterval(compactTimer);
      await compacting?.catch(() => 0);
      await writer?.close();
      while (cleaning !== null) await cleaning;
      await recovery.catch(() => undefined);
      for (const segment of [...readers.keys()]) await closeReader(segment);
      await lock?.release();
      phase = "closed";
    },
  };
}
