/**
 * Rebuilds the spool's in-memory index from the segment files at start-up.
 *
 * Segments are replayed in number order, records in file order (format: record.ts). Damage never
 * stops recovery:
 * - a torn record at the end of the newest segment was never acknowledged: it is truncated away;
 * - unreadable bytes anywhere else (bad CRC, length, JSON) are copied to
 *   `<spool>/quarantine/<segment>-<offset>.bin`, reported and logged; the scan resumes at the next
 *   valid record and the segment is marked damaged so compaction rewrites its survivors soon;
 * - bytes past a seal (a failed batch that could not be truncated) are ignored and truncated.
 *
 * Two steps, so the spool can take new mail in between: `prepareRecovery` (quick: list, seals, torn
 * tail of the newest segment) and `replaySegments` (reads everything; may run in the background).
 */
import { join } from "node:path";
import type { Logger } from "pino";
import type { MessageDsn, RecipientDsn, RecipientState } from "../message/types.ts";
import {
  decodeJsonPayload,
  decodeMessagePayload,
  HEADER_SIZE,
  isDeleted,
  isHold,
  isRecipientsDone,
  isSegmentStart,
  RecordType,
  type ScanItem,
  scanRecords,
} from "./record.ts";
import { segmentFileName } from "./segment-writer.ts";
import type { SpoolFs } from "./spool-fs.ts";
import { SpoolIndex } from "./spool-index.ts";
import type { DeferralInfo, QueuedMessage, RecoveryReport } from "./types.ts";

export interface RecoveryDeps {
  /** The spool directory (holding `segments/` and `quarantine/`). */
  dir: string;
  fs: SpoolFs;
  logger: Logger;
  now: () => number;
}

export interface RecoveryResult {
  index: SpoolIndex;
  quarantined: RecoveryReport["quarantined"];
  /** Highest segment number found (0 when none). */
  lastSegment: number;
}

type RecordItem = Extract<ScanItem, { kind: "record" }>;

/** Final recipient states seen in RECIPIENTS_DONE records, by message id, and where they were. */
type FinalStates = Map<string, { states: Map<number, RecipientState>; segments: Set<number> }>;

/**
 * JSON.parse gives every message its own copy of values that a large queue repeats endlessly
 * (sender, client, recipient addresses, deferral reasons). Recovery hands each repeated value out
 * once, which is a large part of the per-message memory after a restart. Bounded: past `limit`
 * distinct values it starts over (only the savings are lost, never a value).
 */
function createInterner<T>(limit = 50_000): (key: string, value: T) => T {
  let seen = new Map<string, T>();
  return (key, value) => {
    const known = seen.get(key);
    if (known !== undefined) return known;
    if (seen.size >= limit) seen = new Map();
    seen.set(key, value);
    return value;
  };
}

interface Interners {
  string: (value: string) => string;
  /** Whole `reasons` objects, shared and frozen (the scheduler replaces them, never edits them). */
  reasons: (key: string, value: DeferralInfo["reasons"]) => DeferralInfo["reasons"];
}

function createInterners(): Interners {
  const strings = createInterner<string>();
  return { string: (value) => strings(value, value), reasons: createInterner() };
}

/** The common "no DSN parameters given" values, shared (and frozen: nothing may change them). */
const NO_RECIPIENT_DSN: RecipientDsn = Object.freeze({ notify: null, orcpt: null });
const NO_MESSAGE_DSN: MessageDsn = Object.freeze({ ret: null, envid: null });

function internMessage(meta: QueuedMessage, intern: Interners): void {
  meta.sender = intern.string(meta.sender);
  if (typeof meta.clientAddress === "string") meta.clientAddress = intern.string(meta.clientAddress);
  if (typeof meta.clientHelo === "string") meta.clientHelo = intern.string(meta.clientHelo);
  for (const r of meta.recipients) {
    r.address = intern.string(r.address);
    if (r.dsn?.notify === null && r.dsn.orcpt === null) r.dsn = NO_RECIPIENT_DSN;
  }
  if (meta.dsn?.ret === null && meta.dsn.envid === null) meta.dsn = NO_MESSAGE_DSN;
  if (meta.deferral !== null) internReasons(meta.deferral, intern);
}

function internReasons(deferral: DeferralInfo, intern: Interners): void {
  const reasons = deferral.reasons;
  if (typeof reasons !== "object" || reasons === null) return;
  deferral.reasons = intern.reasons(JSON.stringify(reasons), Object.freeze(reasons));
}

export async function listSegments(fs: SpoolFs, segmentsDir: string): Promise<number[]> {
  const names = await fs.readdir(segmentsDir);
  const numbers: number[] = [];
  for (const name of names) {
    const match = /^(\d+)\.log$/.exec(name);
    if (match?.[1] !== undefined) numbers.push(Number(match[1]));
  }
  return numbers.sort((a, b) => a - b);
}

/** Reads only the SEGMENT_START record of each segment and returns valid lengths set by seals. */
async function readSeals(fs: SpoolFs, segmentsDir: string, segments: number[]): Promise<Map<number, number>> {
  const validLengths = new Map<number, number>();
  for (const no of segments) {
    const handle = await fs.open(join(segmentsDir, segmentFileName(no)), "r");
    try {
      const header = Buffer.alloc(HEADER_SIZE);
      const { bytesRead } = await handle.read(header, 0, HEADER_SIZE, 0);
      if (bytesRead < HEADER_SIZE || header.readUInt8(5) !== RecordType.segmentStart) continue;
      const length = Math.min(header.readUInt32BE(6), 1024 * 1024);
      const whole = Buffer.alloc(HEADER_SIZE + length);
      await handle.read(whole, 0, whole.length, 0);
      const first = scanRecords(whole).next().value;
      if (first?.kind !== "record") continue;
      const start = decodeJsonPayload(first.payload);
      if (!isSegmentStart(start)) continue;
      for (const seal of start.seals) {
        const current = validLengths.get(seal.segment) ?? Number.POSITIVE_INFINITY;
        validLengths.set(seal.segment, Math.min(current, seal.validLength));
      }
    } catch {
      // An unreadable first record is reported by the main scan.
    } finally {
      await handle.close();
    }
  }
  return validLengths;
}

/** What `prepareRecovery` found: the segments to replay, in order, and how much of each is valid. */
export interface PreparedRecovery {
  segments: number[];
  validLengths: Map<number, number>;
  /** Highest segment number found (0 when none): new segments must be numbered above it. */
  lastSegment: number;
}

/**
 * The quick part of recovery, done before the spool accepts writes: creates the directories, lists
 * the segments, reads their seals and truncates a torn tail off the newest segment (so that once a
 * newer segment exists, a crash cannot make that unacknowledged tail look like damage).
 */
export async function prepareRecovery(deps: RecoveryDeps): Promise<PreparedRecovery> {
  const { fs, logger } = deps;
  const segmentsDir = join(deps.dir, "segments");
  await fs.mkdir(segmentsDir);
  await fs.mkdir(join(deps.dir, "quarantine"));
  const segments = await listSegments(fs, segmentsDir);
  const validLengths = await readSeals(fs, segmentsDir, segments);
  const lastSegment = segments.at(-1) ?? 0;
  if (segments.length > 0) {
    const path = join(segmentsDir, segmentFileName(lastSegment));
    const buf = await fs.readFile(path);
    const limit = Math.min(validLengths.get(lastSegment) ?? buf.length, buf.length);
    let tail: ScanItem | undefined;
    for (const item of scanRecords(buf.subarray(0, limit))) if (item.kind === "tail") tail = item;
    if (tail !== undefined) {
      logger.warn(
        { segment: lastSegment, offset: tail.offset, bytes: tail.length },
        "truncating torn tail of spool",
      );
      await fs.truncate(path, tail.offset).catch((err: unknown) => logger.warn({ err }, "truncate failed"));
    }
  }
  return { segments, validLengths, lastSegment };
}

/** Prepares and replays in one go (the foreground recovery). */
export async function recoverSpool(deps: RecoveryDeps): Promise<RecoveryResult> {
  return replaySegments(deps, await prepareRecovery(deps));
}

/**
 * Replays the prepared segments into a fresh index. Segments written after `prepareRecovery` are
 * not touched. `shouldStop` is checked between segments (the spool is closing): then it rejects.
 */
export async function replaySegments(
  deps: RecoveryDeps & { shouldStop?: () => boolean },
  prepared: PreparedRecovery,
): Promise<RecoveryResult> {
  const { fs, logger } = deps;
  const segmentsDir = join(deps.dir, "segments");
  const quarantineDir = join(deps.dir, "quarantine");
  const { segments, validLengths, lastSegment } = prepared;
  const index = new SpoolIndex();
  const quarantined: RecoveryReport["quarantined"] = [];
  const finals: FinalStates = new Map();
  /** Deleted message ids and the segments of their DELETED records: a later copy stays deleted. */
  const deleted = new Map<string, Set<number>>();
  const intern = createInterners();

  async function quarantine(no: number, bytes: Buffer, offset: number, reason: string): Promise<void> {
    const name = `${segmentFileName(no).replace(/\.log$/, "")}-${offset}.bin`;
    const file = join(quarantineDir, name);
    let why = reason;
    try {
      await fs.writeFile(file, bytes);
    } catch (err) {
      why = `${reason} (copy not saved: ${err instanceof Error ? err.message : String(err)})`;
    }
    quarantined.push({ file, reason: why });
    index.addSegment(no, deps.now()).damaged = true;
    logger.warn({ segment: no, offset, bytes: bytes.length, file, reason: why }, "spool record quarantined");
  }

  function applyRecord(no: number, item: RecordItem): void {
    switch (item.type) {
      case RecordType.segmentStart: {
        const start = decodeJsonPayload(item.payload);
        if (!isSegmentStart(start)) throw new Error("bad SEGMENT_START payload");
        index.addSegment(no, start.createdAt).createdAt = start.createdAt;
        for (const seal of start.seals) index.pin(no, seal.segment);
        return;
      }
      case RecordType.message:
      case RecordType.relocated: {
        const { meta, bodyOffset, bodyLength } = decodeMessagePayload(item.payload);
        const deletedIn = deleted.get(meta.id);
        if (deletedIn !== undefined) {
          for (const s of deletedIn) index.pin(s, no);
          return;
        }
        internMessage(meta, intern);
        const final = finals.get(meta.id);
        if (final !== undefined) {
          for (const [i, state] of final.states) {
            const recipient = meta.recipients[i];
            if (recipient !== undefined) recipient.state = state;
          }
          for (const s of final.segments) index.pin(s, no);
        }
        const location = {
          segment: no,
          bodyOffset: item.offset + HEADER_SIZE + bodyOffset,
          bodyLength,
          recordLength: item.length,
        };
        const entry = index.putCopy(meta, location);
        if (entry.message.recipients.every((r) => r.state !== "pending")) index.remove(meta.id);
        return;
      }
      case RecordType.recipientsDone: {
        const done = decodeJsonPayload(item.payload);
        if (!isRecipientsDone(done)) throw new Error("bad RECIPIENTS_DONE payload");
        let final = finals.get(done.id);
        if (final === undefined) {
          final = { states: new Map(), segments: new Set() };
          finals.set(done.id, final);
        }
        for (const u of done.updates) final.states.set(u.index, u.state);
        final.segments.add(no);
        index.applyDone(done.id, done.updates, no);
        return;
      }
      case RecordType.hold: {
        const hold = decodeJsonPayload(item.payload);
        if (!isHold(hold)) throw new Error("bad HOLD payload");
        index.applyHold(hold.id, hold.held, no);
        return;
      }
      case RecordType.deleted: {
        const removal = decodeJsonPayload(item.payload);
        if (!isDeleted(removal)) throw new Error("bad DELETED payload");
        const segments = deleted.get(removal.id) ?? new Set<number>();
        segments.add(no);
        deleted.set(removal.id, segments);
        index.applyDelete(removal.id, no);
        return;
      }
      case RecordType.deferral: {
        const value = decodeJsonPayload(item.payload) as { id?: unknown; deferral?: unknown };
        if (typeof value.id !== "string" || typeof value.deferral !== "object" || value.deferral === null) {
          throw new Error("bad DEFERRAL payload");
        }
        const deferral = value.deferral as DeferralInfo;
        internReasons(deferral, intern);
        index.applyDeferral(value.id, deferral);
        return;
      }
    }
  }

  for (const no of segments) {
    if (deps.shouldStop?.() === true) throw new Error("spool recovery stopped: the spool is closing");
    const path = join(segmentsDir, segmentFileName(no));
    index.addSegment(no, deps.now());
    let buf = await fs.readFile(path);
    const limit = validLengths.get(no);
    if (limit !== undefined && limit < buf.length) {
      logger.warn(
        { segment: no, validLength: limit, length: buf.length },
        "ignoring sealed bytes of failed batch",
      );
      buf = buf.subarray(0, limit);
      await fs.truncate(path, limit).catch((err: unknown) => logger.warn({ err }, "truncate failed"));
    }
    let size = buf.length;
    for (const item of scanRecords(buf)) {
      if (item.kind === "record") {
        try {
          applyRecord(no, item);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          await quarantine(no, buf.subarray(item.offset, item.offset + item.length), item.offset, reason);
        }
      } else if (item.kind === "tail" && no === lastSegment) {
        logger.warn(
          { segment: no, offset: item.offset, bytes: item.length },
          "truncating torn tail of spool",
        );
        size = item.offset;
        await fs.truncate(path, item.offset).catch((err: unknown) => logger.warn({ err }, "truncate failed"));
      } else {
        await quarantine(no, buf.subarray(item.offset, item.offset + item.length), item.offset, item.reason);
      }
    }
    index.noteSize(no, size);
  }
  return { index, quarantined, lastSegment };
}
