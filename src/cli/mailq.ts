/**
 * `mailfleet mailq`: the queue of the running instance, Postfix-style or as JSON.
 */
import { parseArgs } from "node:util";
import type { QueueListing } from "../api-types/queue.ts";
import { adminRequest } from "./admin-client.ts";
import { EXIT } from "./exit-codes.ts";
import { loadConfigOrExit } from "./load-config.ts";

export async function runMailq(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: "string", short: "c" }, json: { type: "boolean", default: false } },
  });
  const config = loadConfigOrExit(values.config);
  const listing = await adminRequest<QueueListing>(config, "GET", "/v1/queue");
  console.log(values.json ? JSON.stringify(listing, null, 2) : formatMailq(listing));
  return EXIT.ok;
}

/** Postfix mailq layout: id, size, arrival, sender; then each pending recipient and its reason. */
export function formatMailq(listing: QueueListing): string {
  if (listing.total === 0) return "Mail queue is empty";
  const lines = ["-Queue ID-            --Size-- ----Arrival Time---- -Sender/Recipient-------"];
  for (const m of listing.messages) {
    const flag = m.active ? "*" : " ";
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
  lines.push(
    `-- ${Math.ceil(bytes / 1024)} Kbytes in ${listing.total} Request${listing.total === 1 ? "" : "s"}.`,
  );
  return lines.join("\n");
}
