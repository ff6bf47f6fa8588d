/**
 * The spool's public contract. The spool is the only module that touches queue files.
 * Every promise that resolves means "on disk and fsync'd": callers may reply 250 after
 * `store` resolves and may forget a recipient after `markRecipients` resolves.
 */
import type { NewMessage, QueueId, RecipientState, StoredMessage } from "../message/types.ts";

/** Delivery progress kept with a message so `mailq` and retries survive restarts. */
export interface DeferralInfo {
  attempts: number;
  /** Unix ms of the next attempt. */
  nextAttemptAt: number;
  /** Last deferral reason per pending recipient index. */
  reasons: Record<number, string>;
  /** A delay DSN (RFC 3461 NOTIFY=DELAY) was sent for this message: never send another. */
  delayWarned?: boolean;
}

export interface QueuedMessage extends StoredMessage {
  deferral: DeferralInfo | null;
  /** On hold (`mailfleet queue hold`): never attempted until released. Durable (HOLD records). */
  held: boolean;
}

export interface RecipientUpdate {
  index: number;
  state: Exclude<RecipientState, "pending">;
}

/** Stable error codes for spool failures. */
export type SpoolErrorCode =
  | "SPOOL_LOCKED" // another process holds the spool
  | "SPOOL_WRITE_FAILED" // write/fsync failed (disk full, I/O error): nothing was half-queued
  | "SPOOL_CLOSED";

export class SpoolError extends Error {
  readonly code: SpoolErrorCode;
  constructor(code: SpoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "SpoolError";
  }
}

export interface RecoveryReport {
  messages: QueuedMessage[];
  /** Unreadable entries moved aside to <spool>/quarantine, with why. */
  quarantined: { file: string; reason: string }[];
}

export interface OpenOptions {
  /**
   * Recover in the background. `open` then resolves as soon as the lock is held and `store` works
   * (new mail goes to segments numbered above every existing one), with `messages` and
   * `quarantined` empty. The old segments are replayed meanwhile; a message's final state is only
   * known once every segment is replayed, so the recovered queue is handed over here afterwards, in
   * batches, each message once (shared objects, as `store` returns). Without it, `open` waits for
   * the replay and `messages` are copies.
   */
  onRecovered?: (batch: QueuedMessage[]) => void;
}

export interface Spool {
  /** Takes the exclusive lock (SPOOL_LOCKED if held) and recovers the queue (see OpenOptions). */
  open(options?: OpenOptions): Promise<RecoveryReport>;
  /**
   * Durable (fsync'd, group-committed) before it resolves. Rejects with SPOOL_WRITE_FAILED.
   * The message it resolves with (like those given to `onRecovered`) is the spool's own object,
   * shared to keep one copy per queued message in memory: the spool sets recipient states as
   * `markRecipients` commits and replaces `deferral` on `recordDeferral`. Holders may do the same
   * (set a state only after `markRecipients` resolved, replace `deferral`), nothing else.
   */
  store(message: NewMessage, body: Buffer): Promise<QueuedMessage>;
  /** Records final recipient states durably. When every recipient is final the message is removed. */
  markRecipients(id: QueueId, updates: RecipientUpdate[]): Promise<void>;
  /**
   * Puts a message on hold (or releases it) durably: fsync'd before it resolves, and replayed by
   * recovery, so a held message stays held across restarts. Sets `held` on the spool's object.
   * Resolves false when the id is not queued.
   */
  hold(id: QueueId): Promise<boolean>;
  release(id: QueueId): Promise<boolean>;
  /**
   * Drops a message for good, whatever its recipients' states (no DSN: like `postsuper -d`).
   * Durable before it resolves; resolves false when the id is not queued.
   */
  delete(id: QueueId): Promise<boolean>;
  /** Best-effort (not awaited for durability): retry bookkeeping for mailq and restarts. */
  recordDeferral(id: QueueId, deferral: DeferralInfo): void;
  readBody(id: QueueId): Promise<Buffer>;
  /** Bytes free in the spool's file system (for the MAIL-time 452 4.3.1 check). */
  freeBytes(): Promise<number>;
  close(): Promise<void>;
}
