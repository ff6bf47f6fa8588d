/**
 * The messages between an instance and its delivery threads (thread-connector.ts on the
 * instance's side, delivery-thread.ts in the worker). Every field is plain data, so it crosses
 * the thread boundary by structured clone; a message body arrives on the other side as a
 * Uint8Array over a copy of its bytes.
 */
import type { DkimConfig } from "../config/types.ts";
import type { SendNotice } from "../feedback/return-path.ts";
import type { VerpSettings } from "../feedback/verp.ts";
import type { RecipientOutcome } from "../message/types.ts";
import type { LoggerOptions } from "../results/logger.ts";
import { type DeliveryJob, type OpenResult, type Site, sourceSiteKey } from "./types.ts";

/** What a delivery thread is started with (its workerData). */
export interface ThreadSettings {
  /** The instance logger's level and bindings: the thread logs to stderr as the instance does. */
  logLevel: LoggerOptions["level"];
  logBindings: Record<string, unknown>;
  /** Null when the instance does not sign. */
  dkim: DkimConfig | null;
  /** VERP return paths; the thread posts each send back as a "send" event. */
  verp: { domain: string; localPart: string; secret: Uint8Array } | null;
}

export type ToThread =
  | { op: "open"; req: number; site: Site }
  /** minGapMs: the least time between two transaction starts to the session's source x site. */
  | { op: "deliver"; req: number; session: number; job: DeliveryJob; minGapMs: number }
  | { op: "close"; req: number; session: number }
  /** A reload brought new DKIM keys (null: stop signing). */
  | { op: "dkim"; dkim: DkimConfig | null };

/** An OpenResult with the session replaced by its number in the thread. */
export type OpenReply = { ok: true; session: number } | Extract<OpenResult, { ok: false }>;

export type FromThread =
  | { req: number; open: OpenReply }
  | { req: number; outcomes: RecipientOutcome[]; usable: boolean }
  | { req: number; closed: true }
  /** The request threw inside the thread (a bug, not an SMTP failure). */
  | { req: number; error: string }
  | { event: "send"; notice: SendNotice };

export function verpForThread(verp: VerpSettings | null): ThreadSettings["verp"] {
  return verp
    ? { domain: verp.domain, localPart: verp.localPart, secret: new Uint8Array(verp.secret) }
    : null;
}

/** Source IP x site of a session (its transport carries the source): the rate delay's unit. */
export function pacingKey(site: Site): string {
  return sourceSiteKey(site.key, site.transport.bindAddress);
}
