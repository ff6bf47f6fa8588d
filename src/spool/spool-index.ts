/**
 * The spool's in-memory bookkeeping, with no I/O: which messages are queued (metadata only, plus
 * where each body lies), and per segment how many live messages and bytes it holds and which other
 * segments it must outlive. Recovery replays records into it; the running spool updates it when
 * batches commit.
 *
 * Segment removal rule: a segment may be unlinked when it is not the active one, no live message has
 * its current copy there, and every segment in `pinnedBy` is already gone. A segment is pinned by
 * the segments holding copies of messages it has RECIPIENTS_DONE records for (else removing it would
 * resurrect delivered recipients from the older copy), by the same segments for HOLD and DELETED
 * records (else a hold would be forgotten, or a deleted message come back), and by a segment it
 * seals.
 */
import type { QueueId, RecipientState } from "../message/types.ts";
import type { DeferralInfo, QueuedMessage, RecipientUpdate } from "./types.ts";

export interface MessageLocation {
  segment: number;
  /** Offset of the body's first byte in the segment file. */
  bodyOffset: number;
  bodyLength: number;
  /** Length of the whole record (for live-bytes accounting). */
  recordLength: number;
}

export interface IndexedMessage {
  message: QueuedMessage;
  location: MessageLocation;
  /** Every segment that has (or had) a copy of this message (an array: a Set costs ~10x per message). */
  copies: number[];
  /** RECIPIENTS_DONE, HOLD or DELETED records queued but not yet committed (compaction waits). */
  inflight: number;
}

export interface SegmentInfo {
  no: number;
  size: number;
  createdAt: number;
  live: number;
  liveBytes: number;
  pinnedBy: Set<number>;
  /** Recovery found unreadable bytes: compact it away soon. */
  damaged: boolean;
}

export interface CompactionPolicy {
  /** Compact a sealed segment whose live bytes are below this fraction of its size. */
  liveRatio: number;
  /** Compact a sealed segment older than this (ms), so long-deferred mail does not pin old files. */
  maxAgeMs: number;
}

export type DoneResult = "unknown" | "updated" | "removed";

function addCopy(copies: number[], segment: number): void {
  if (!copies.includes(segment)) copies.push(segment);
}

function isFinal(state: RecipientState): boolean {
  return state !== "pending";
}

export class SpoolIndex {
  readonly messages = new Map<QueueId, IndexedMessage>();
  readonly segments = new Map<number, SegmentInfo>();
  active: number | null = null;

  addSegment(no: number, createdAt: number): SegmentInfo {
    let info = this.segments.get(no);
    if (info === undefined) {
      info = { no, size: 0, createdAt, live: 0, liveBytes: 0, pinnedBy: new Set(), damaged: false };
      this.segments.set(no, info);
    }
    return info;
  }

  noteSize(no: number, size: number): void {
    const info = this.segments.get(no);
    if (info !== undefined && size > info.size) info.size = size;
  }

  /** `segment` must not be removed while `by` exists. */
  pin(segment: number, by: number): void {
    if (segment === by || !this.segments.has(by)) return;
    this.segments.get(segment)?.pinnedBy.add(by);
  }

  /**
   * A MESSAGE or RELOCATED copy became durable at `location`. Merges with a known earlier copy: the
   * newer metadata wins, but a recipient final in either stays final.
   */
  putCopy(meta: QueuedMessage, location: MessageLocation): IndexedMessage {
    const existing = this.messages.get(meta.id);
    if (existing !== undefined) {
      meta.recipients.forEach((recipient, index) => {
        const old = existing.message.recipients[index];
        if (old !== undefined && isFinal(old.state)) recipient.state = old.state;
      });
      meta.deferral = meta.deferral ?? existing.message.deferral;
      this.detach(existing);
      existing.message = meta;
      existing.location = location;
      addCopy(existing.copies, location.segment);
      this.attach(existing);
      return existing;
    }
    const entry: IndexedMessage = {
      message: meta,
      location,
      copies: [location.segment],
      inflight: 0,
    };
    this.messages.set(meta.id, entry);
    this.attach(entry);
    return entry;
  }

  /** The body of a live message now (also) lives at `location` (compaction committed). */
  relocate(id: QueueId, location: MessageLocation): void {
    const entry = this.messages.get(id);
    if (entry === undefined) return;
    this.detach(entry);
    entry.location = location;
    addCopy(entry.copies, location.segment);
    this.attach(entry);
  }

  /** A RECIPIENTS_DONE record in `recordSegment` committed. Removes the message when all are final. */
  applyDone(id: QueueId, updates: readonly RecipientUpdate[], recordSegment: number): DoneResult {
    const entry = this.messages.get(id);
    if (entry === undefined) return "unknown";
    for (const copy of entry.copies) this.pin(recordSegment, copy);
    for (const update of updates) {
      const recipient = entry.message.recipients[update.index];
      if (recipient !== undefined && !isFinal(recipient.state)) recipient.state = update.state;
    }
    if (entry.message.recipients.every((r) => isFinal(r.state))) {
      this.remove(id);
      return "removed";
    }
    return "updated";
  }

  /** A HOLD record in `recordSegment` committed (held, or released when `held` is false). */
  applyHold(id: QueueId, held: boolean, recordSegment: number): boolean {
    const entry = this.messages.get(id);
    if (entry === undefined) return false;
    for (const copy of entry.copies) this.pin(recordSegment, copy);
    entry.message.held = held;
    return true;
  }

  /** A DELETED record in `recordSegment` committed: the message leaves the queue for good. */
  applyDelete(id: QueueId, recordSegment: number): boolean {
    const entry = this.messages.get(id);
    if (entry === undefined) return false;
    for (const copy of entry.copies) this.pin(recordSegment, copy);
    this.remove(id);
    return true;
  }

  applyDeferral(id: QueueId, deferral: DeferralInfo): void {
    const entry = this.messages.get(id);
    if (entry !== undefined) entry.message.deferral = deferral;
  }

  /** Drops a message whose recipients are all final (or that was deleted). */
  remove(id: QueueId): void {
    const entry = this.messages.get(id);
    if (entry === undefined) return;
    this.detach(entry);
    this.messages.delete(id);
  }

  /** Segments that can be unlinked now, oldest first. */
  deletableSegments(): number[] {
    const out: number[] = [];
    for (const info of this.segments.values()) {
      if (info.no === this.active || info.live > 0) continue;
      if ([...info.pinnedBy].some((by) => this.segments.has(by))) continue;
      out.push(info.no);
    }
    return out.sort((a, b) => a - b);
  }

  removeSegment(no: number): void {
    this.segments.delete(no);
  }

  /** Sealed segments whose live messages should be re-appended to the active segment, oldest first. */
  compactionCandidates(now: number, policy: CompactionPolicy): number[] {
    const out: number[] = [];
    for (const info of this.segments.values()) {
      if (info.no === this.active || info.live === 0) continue;
      const sparse = info.liveBytes < policy.liveRatio * info.size;
      const old = now - info.createdAt > policy.maxAgeMs;
      if (info.damaged || sparse || old) out.push(info.no);
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * Takes over everything a background recovery rebuilt. Its segments are all older than any this
   * index has (the writer numbers new segments above them) and its messages are unknown here, so
   * the two sets do not overlap and the per-segment counts stay exact.
   */
  adopt(recovered: SpoolIndex): void {
    for (const [no, info] of recovered.segments) {
      if (this.segments.has(no)) throw new Error(`recovered segment ${no} is already in the index`);
      this.segments.set(no, info);
    }
    for (const [id, entry] of recovered.messages) {
      if (!this.messages.has(id)) this.messages.set(id, entry);
    }
  }

  /** Live messages whose current copy is in `segment`. */
  liveIn(segment: number): IndexedMessage[] {
    return [...this.messages.values()].filter((e) => e.location.segment === segment);
  }

  private attach(entry: IndexedMessage): void {
    const info = this.segments.get(entry.location.segment);
    if (info === undefined) return;
    info.live++;
    info.liveBytes += entry.location.recordLength;
  }

  private detach(entry: IndexedMessage): void {
    const info = this.segments.get(entry.location.segment);
    if (info === undefined) return;
    info.live--;
    info.liveBytes -= entry.location.recordLength;
  }
}
