/**
 * `mailfleet mailq [--instance NAME] [-n N] [--json]`: the queue of every instance of the fleet (or one),
 * grouped under a heading per instance, Postfix-style or as JSON. An instance that is not running
 * is one line in the report; the exit code is non-zero only when no instance could be asked.
 */
import { parseArgs } from "node:util";
import type { QueueListing } from "../api-types/queue.ts";
import { adminCall, adminCallEach, printFleetReport, selectInstances } from "./admin-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { FLEET_REPORT_OPTIONS } from "./fleet-options.ts";
import { loadFleetOrExit } from "./load-config.ts";

export async function runMailq(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...FLEET_REPORT_OPTIONS, limit: { type: "string", short: "n" } },
  });
  if (values.limit !== undefined && !/^\d{1,9}$/.test(values.limit)) {
    throw new CliError(`-n: expected a number of messages, got "${values.limit}"`, EXIT.usage);
  }
  const path = values.limit === undefined ? "/v1/queue" : `/v1/queue?limit=${values.limit}`;
  const instances = selectInstances(loadFleetOrExit(values.config), values.instance);
  const answers = await adminCallEach(instances, (c) => adminCall<QueueListing>(c, "GET", path));
  return printFleetReport(answers, formatMailq, values.json);
}

/**
 * Postfix mailq layout: id (followed by `!` while held, else `*` while being delivered), size,
 * arrival, sender; then each pending recipient, after its last deferral reason.
 */
export function formatMailq(listing: QueueListing): string {
  if (listing.total === 0) return "Mail queue is empty";
  const lines = ["-Queue ID-            --Size-- ----Arrival Time---- -Sender/Recipient-------"];
  for (const m of listing.messages) {
    const flag = m.held ? "!" : m.active ? "*" : " ";
    lines.push(
      `${(m.id + flag).padEnd(21)} ${String(m.size).padStart(8)} ${m.arrivedAt.slice(0, 19).replace("T", " ")}  ${m.sender || "MAILER-DAEMON"}`,
    );
    for (const r of m.recipients) {
      if (r.state !== "pending") continue;
      if (r.lastReason) lines.push(`${" ".repeat(22)}(${r.lastReason})`);
      lines.push(`${" ".repeat(40)} ${r.address}`);
    }
    lines.push("");
  }
  const bytes = listing.messages.reduce((sum, m) => sum + m.size, 0);
  if (listing.messages.length < listing.total) {
    lines.push(`-- the ${listing.messages.length} oldest of ${listing.total} Requests shown (-n).`);
    return lines.join("\n");
  }
  lines.push(
    `-- ${Math.ceil(bytes / 1024)} Kbytes in ${listing.total} Request${listing.total === 1 ? "" : "s"}.`,
  );
  return lines.join("\n");
}
