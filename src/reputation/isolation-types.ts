/**
 * Data of automatic isolation shared by the instance, the admin API and the CLI: which tenants
 * are isolated (and why), and the recent isolate/release events.
 */

export type IsolationAction = "quarantine" | "pause";

/** A tenant isolated on one instance. */
export interface IsolationRecord {
  tenant: string;
  action: IsolationAction;
  /** The quarantine pool at the time (action quarantine), else null. */
  pool: string | null;
  /** e.g. "complaint rate 3.2% > 1% over 24h (n=125)". */
  reason: string;
  /** Unix ms. */
  at: number;
}

export interface IsolationEvent extends IsolationRecord {
  kind: "isolated" | "released";
}

/** GET /v1/isolation, and the `isolation` part of GET /v1/reputation. */
export interface IsolationView {
  instance: string;
  /** null when the instance has no `reputation.isolation` section. */
  thresholds: {
    window: string;
    minMessages: number;
    complaintRate: number | null;
    hardBounceRate: number | null;
    blocklistReplies: number | null;
    action: IsolationAction;
    quarantinePool: string | null;
  } | null;
  isolated: IsolationRecord[];
  /** Most recent last; bounded. */
  events: IsolationEvent[];
}

/** POST /v1/isolation/release {tenant} */
export interface IsolationReleaseResult {
  instance: string;
  tenant: string;
  /** false: the tenant was not isolated there. */
  released: boolean;
}
