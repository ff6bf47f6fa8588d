/**
 * The spool's on-disk record format (version 1): encode, decode and scan.
 *
 * A spool is a directory of append-only segment files `segments/NNNNNNNN.log`, each a sequence of
 * records. Every record is a 14-byte header followed by a payload:
 *
 *   offset 0  u32 BE  magic 0x4D465350 ("MFSP")
 *   offset 4  u8      format version (1)
 *   offset 5  u8      record type (below)
 *   offset 6  u32 BE  payload length in bytes
 *   offset 10 u32 BE  CRC-32 (zlib) of header bytes 4..9 followed by the payload
 *
 * Record types and payloads:
 *   1 SEGMENT_START    JSON {segment, createdAt, seals:[{segment, validLength}]}. First record of each
 *                      segment. `seals` says an earlier segment is only valid up to validLength bytes
 *                      (a failed batch there could not be truncated away).
 *   2 MESSAGE          u32 BE metaLength, meta JSON (a QueuedMessage: StoredMessage fields, recipient
 *                      states, deferral), then the raw body bytes (CRLF, not dot-stuffed).
 *   3 RELOCATED        Same payload as MESSAGE: a copy written by compaction with current states.
 *   4 RECIPIENTS_DONE  JSON {id, updates:[{index, state}]}: recipients that reached a final state.
 *   5 DEFERRAL         JSON {id, deferral}: retry bookkeeping (best effort).
 *   6 HOLD             JSON {id, held}: the message was put on hold (true) or released (false).
 *   7 DELETED          JSON {id}: the message was removed by the operator (no DSN), whatever its
 *                      recipients' states.
 *
 * Types 6 and 7 were added to version 1 without a version change: older readers quarantine them
 * as unknown records (a spool must not be opened by an older mailfleet once it held or deleted).
 *
 * Replay rules (see recovery.ts): records apply in segment order then file order; a later copy of a
 * message replaces its metadata (`held` included), but a recipient state that is final anywhere
 * stays final, and a DELETED message stays deleted. Metadata written before `held` existed reads
 * as not held, and metadata written before `tenant` existed reads as tenant null.
 */
import { crc32 } from "node:zlib";
import type { QueuedMessage } from "./types.ts";

export const RECORD_MAGIC = 0x4d465350;
export const RECORD_VERSION = 1;
export const HEADER_SIZE = 14;
/** Upper bound for one payload; anything larger is treated as corruption. */
export const MAX_PAYLOAD = 1024 * 1024 * 1024;

export const RecordType = {
  segmentStart: 1,
  message: 2,
  relocated: 3,
  recipientsDone: 4,
  deferral: 5,
  hold: 6,
  deleted: 7,
} as const;
export type RecordTypeCode = (typeof RecordType)[keyof typeof RecordType];

const KNOWN_TYPES = new Set<number>(Object.values(RecordType));
const MAGIC_BYTES = Buffer.from([0x4d, 0x46, 0x53, 0x50]);

/** An encoded record as buffers for writev (the body is not copied). */
export interface EncodedRecord {
  buffers: Buffer[];
  length: number;
}

export function encodeRecord(type: RecordTypeCode, payload: Buffer[]): EncodedRecord {
  const payloadLength = payload.reduce((sum, b) => sum + b.length, 0);
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32BE(RECORD_MAGIC, 0);
  header.writeUInt8(RECORD_VERSION, 4);
  header.writeUInt8(type, 5);
  header.writeUInt32BE(payloadLength, 6);
  let crc = crc32(header.subarray(4, 10));
  for (const part of payload) crc = crc32(part, crc);
  header.writeUInt32BE(crc, 10);
  return { buffers: [header, ...payload], length: HEADER_SIZE + payloadLength };
}

export function encodeJsonRecord(type: RecordTypeCode, value: unknown): EncodedRecord {
  return encodeRecord(type, [Buffer.from(JSON.stringify(value), "utf8")]);
}

/** A MESSAGE/RELOCATED record; `bodyOffset` is where the body starts, relative to the record. */
export function encodeMessageRecord(
  type: typeof RecordType.message | typeof RecordType.relocated,
  meta: QueuedMessage,
  body: Buffer,
): EncodedRecord & { bodyOffset: number } {
  const metaBytes = Buffer.from(JSON.stringify(meta), "utf8");
  const metaLength = Buffer.alloc(4);
  metaLength.writeUInt32BE(metaBytes.length, 0);
  const encoded = encodeRecord(type, [metaLength, metaBytes, body]);
  return { ...encoded, bodyOffset: HEADER_SIZE + 4 + metaBytes.length };
}

export interface SegmentStartPayload {
  segment: number;
  createdAt: number;
  seals: { segment: number; validLength: number }[];
}

/** One step of a scan: a valid record, or a damaged byte range. */
export type ScanItem =
  | { kind: "record"; offset: number; length: number; type: RecordTypeCode; payload: Buffer }
  /** Unreadable bytes followed by a valid record at offset + length. */
  | { kind: "corrupt"; offset: number; length: number; reason: string }
  /** Unreadable bytes up to the end of the buffer (typically a torn write). */
  | { kind: "tail"; offset: number; length: number; reason: string };

type HeaderCheck = { ok: true; type: RecordTypeCode; length: number } | { ok: false; reason: string };

/** Checks that a complete, CRC-valid record starts at `offset`. */
export function checkRecordAt(buf: Buffer, offset: number): HeaderCheck {
  if (buf.length - offset < HEADER_SIZE) return { ok: false, reason: "truncated header" };
  if (buf.readUInt32BE(offset) !== RECORD_MAGIC) return { ok: false, reason: "bad magic" };
  const version = buf.readUInt8(offset + 4);
  if (version !== RECORD_VERSION) return { ok: false, reason: `unsupported version ${version}` };
  const type = buf.readUInt8(offset + 5);
  if (!KNOWN_TYPES.has(type)) return { ok: false, reason: `unknown record type ${type}` };
  const length = buf.readUInt32BE(offset + 6);
  if (length > MAX_PAYLOAD) return { ok: false, reason: "payload length too large" };
  const end = offset + HEADER_SIZE + length;
  if (end > buf.length) return { ok: false, reason: "truncated payload" };
  let crc = crc32(buf.subarray(offset + 4, offset + 10));
  crc = crc32(buf.subarray(offset + HEADER_SIZE, end), crc);
  if (crc !== buf.readUInt32BE(offset + 10)) return { ok: false, reason: "crc mismatch" };
  return { ok: true, type: type as RecordTypeCode, length };
}

/** Finds the next offset after `from` where a valid record starts, or -1. */
function resync(buf: Buffer, from: number): number {
  let at = buf.indexOf(MAGIC_BYTES, from);
  while (at !== -1) {
    if (checkRecordAt(buf, at).ok) return at;
    at = buf.indexOf(MAGIC_BYTES, at + 1);
  }
  return -1;
}

/** Walks the records of one segment's bytes, resynchronising after damaged ranges. */
export function* scanRecords(buf: Buffer): Generator<ScanItem> {
  let offset = 0;
  while (offset < buf.length) {
    const check = checkRecordAt(buf, offset);
    if (check.ok) {
      const payload = buf.subarray(offset + HEADER_SIZE, offset + HEADER_SIZE + check.length);
      yield { kind: "record", offset, length: HEADER_SIZE + check.length, type: check.type, payload };
      offset += HEADER_SIZE + check.length;
      continue;
    }
    const next = resync(buf, offset + 1);
    if (next === -1) {
      yield { kind: "tail", offset, length: buf.length - offset, reason: check.reason };
      return;
    }
    yield { kind: "corrupt", offset, length: next - offset, reason: check.reason };
    offset = next;
  }
}

/** Decoded MESSAGE/RELOCATED payload; `bodyOffset` is relative to the payload start. */
export interface MessagePayload {
  meta: QueuedMessage;
  bodyOffset: number;
  bodyLength: number;
}

export function decodeMessagePayload(payload: Buffer): MessagePayload {
  if (payload.length < 4) throw new Error("message payload too short");
  const metaLength = payload.readUInt32BE(0);
  if (4 + metaLength > payload.length) throw new Error("message metadata length out of range");
  const meta: unknown = JSON.parse(payload.subarray(4, 4 + metaLength).toString("utf8"));
  if (!isQueuedMessage(meta)) throw new Error("message metadata has the wrong shape");
  const bodyLength = payload.length - 4 - metaLength;
  if (meta.size !== bodyLength) throw new Error("message size does not match its body");
  // Records written before holds existed carry no `held`; before tenants, no `tenant`.
  meta.held = meta.held === true;
  meta.tenant = typeof meta.tenant === "string" ? meta.tenant : null;
  return { meta, bodyOffset: 4 + metaLength, bodyLength };
}

export function decodeJsonPayload(payload: Buffer): unknown {
  return JSON.parse(payload.toString("utf8"));
}

const STATES = new Set(["pending", "delivered", "bounced", "expired"]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Shape check for metadata read back from disk (the spool wrote it, so this guards against damage). */
export function isQueuedMessage(value: unknown): value is QueuedMessage {
  if (!isObject(value)) return false;
  if (typeof value.id !== "string" || typeof value.sender !== "string") return false;
  if (typeof value.size !== "number" || typeof value.arrivedAt !== "number") return false;
  if (!Array.isArray(value.recipients) || value.recipients.length === 0) return false;
  for (const r of value.recipients) {
    if (!isObject(r) || typeof r.address !== "string" || !STATES.has(String(r.state))) return false;
  }
  if (value.held !== undefined && typeof value.held !== "boolean") return false;
  if (value.tenant !== undefined && value.tenant !== null && typeof value.tenant !== "string") return false;
  return value.deferral === null || isObject(value.deferral);
}

export interface RecipientsDonePayload {
  id: string;
  updates: { index: number; state: "delivered" | "bounced" | "expired" }[];
}

export function isRecipientsDone(value: unknown): value is RecipientsDonePayload {
  if (!isObject(value) || typeof value.id !== "string" || !Array.isArray(value.updates)) return false;
  return value.updates.every(
    (u) => isObject(u) && Number.isInteger(u.index) && STATES.has(String(u.state)) && u.state !== "pending",
  );
}

export interface HoldPayload {
  id: string;
  held: boolean;
}

export function isHold(value: unknown): value is HoldPayload {
  return isObject(value) && typeof value.id === "string" && typeof value.held === "boolean";
}

export function isDeleted(value: unknown): value is { id: string } {
  return isObject(value) && typeof value.id === "string";
}

export function isSegmentStart(value: unknown): value is SegmentStartPayload {
  return (
    isObject(value) &&
    typeof value.segment === "number" &&
    typeof value.createdAt === "number" &&
    Array.isArray(value.seals)
  );
}
