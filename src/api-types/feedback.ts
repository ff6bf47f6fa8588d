/**
 * Admin API types of feedback: reputation counters (GET /v1/reputation) and report import
 * (POST /v1/feedback/import).
 */

import type { BounceClass } from "../feedback/types.ts";
import type { IsolationView } from "../reputation/isolation-types.ts";

export type ReputationWindow = "1h" | "24h" | "7d";

export interface ReputationCounts {
  delivered: number;
  deferred: number;
  /** All bounces; by class below. */
  bounced: number;
  bouncedByClass: Partial<Record<BounceClass, number>>;
  complaints: number;
}

export interface ReputationRow {
  dimension: "ip" | "tenant" | "provider";
  /** The IP, tenant or provider; "-" when unknown (mail without a tenant...). */
  key: string;
  windows: Record<ReputationWindow, ReputationCounts>;
}

/** GET /v1/reputation[?ip=IP][&tenant=T][&provider=P] */
export interface ReputationReport {
  instance: string;
  /** Unix ms the windows end at. */
  at: number;
  bucketMs: number;
  rows: ReputationRow[];
  /** Automatic isolation of tenants on this instance (src/reputation/isolation.ts). */
  isolation?: IsolationView;
}

/** POST /v1/feedback/import: one raw report (RFC 5322 text), as read from a file. */
export interface FeedbackImportRequest {
  name: string;
  message: string;
}

/** What one report turned into. */
export interface IngestSummary {
  kind: "dsn" | "arf" | "unknown";
  /** Events recorded (a DSN may report several recipients). */
  events: {
    kind: "bounced" | "deferred" | "complaint" | "delivered";
    recipient: string | null;
    queueId: string | null;
    tenant: string | null;
    sourceIp: string | null;
    bounceClass?: BounceClass;
    suppressed: boolean;
  }[];
  /** Why nothing could be attributed, when so. */
  note?: string;
}

/**
 * Suppression list of one instance (src/feedback/suppression.ts):
 *   GET  /v1/suppression[?tenant=T]   -> SuppressionListing (tenant "-": mail without a tenant)
 *   POST /v1/suppression/add          SuppressionChange -> SuppressionChangeResult
 *   POST /v1/suppression/remove       SuppressionChange -> SuppressionChangeResult
 */
export interface SuppressionEntryView {
  tenant: string | null;
  address: string;
  reason: "hard_bounce" | "complaint" | "manual";
  /** ISO 8601. */
  addedAt: string;
  detail: string;
}

export interface SuppressionListing {
  instance: string;
  entries: SuppressionEntryView[];
}

export interface SuppressionChange {
  /** null: the list of mail without a tenant. */
  tenant: string | null;
  address: string;
  /** For add: the operator's note. */
  detail?: string;
}

export interface SuppressionChangeResult {
  instance: string;
  /** False when nothing changed (already listed for add, not listed for remove). */
  changed: boolean;
}
