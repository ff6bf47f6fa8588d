/**
 * Builds an instance's automatic isolation from its config: the durable store beside the spool,
 * the monitor reading the reputation counters on the instance clock, and its delivery-log lines.
 * The instance hands every counted event to `noteEvent`, the scheduler asks `routing`, the admin
 * API shows `view` and calls `release`.
 */
import type { Logger } from "pino";
import type { ReputationReport } from "../api-types/feedback.ts";
import type { Config } from "../config/types.ts";
import type { Clock } from "../instance/clock.ts";
import { createTenantIsolation, type TenantIsolation } from "./isolation.ts";
import { isolationLogLine } from "./isolation-log.ts";
import { openIsolationStore } from "./isolation-store.ts";

export async function openInstanceIsolation(deps: {
  config: () => Config;
  instance: string;
  clock: Clock;
  logger: Logger;
  writeDeliveryLog: (line: string) => void;
  reputation: (filter: { tenant?: string }) => ReputationReport;
}): Promise<TenantIsolation> {
  const store = await openIsolationStore(deps.config().spoolDir);
  return createTenantIsolation({
    instance: deps.instance,
    config: deps.config,
    store,
    counts: (tenant) =>
      deps.reputation({ tenant }).rows.find((r) => r.dimension === "tenant" && r.key === tenant)?.windows ??
      null,
    tenants: () =>
      deps
        .reputation({})
        .rows.filter((r) => r.dimension === "tenant" && r.key !== "-")
        .map((r) => r.key),
    now: () => deps.clock.now(),
    onEvent: (event) =>
      deps.writeDeliveryLog(
        isolationLogLine(deps.config().log.format, deps.instance, event, new Date(deps.clock.now())),
      ),
    logger: deps.logger,
  });
}
