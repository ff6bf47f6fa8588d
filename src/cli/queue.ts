/**
 * `mailfleet queue ACTION (ID... | --all) [--instance NAME]` and `mailfleet queue summary`, across
 * every instance of the fleet unless --instance names one (Postfix's postsuper -h/-H/-d/-r,
 * postqueue -f and qshape, but for all instances at once).
 *
 * Ids are looked for in every selected instance: each is sent the whole list and answers with the
 * ids it does not have; an id that no reachable instance has is reported on stderr and makes the
 * exit code EX_NOINPUT. Instances that are not running are listed (their mail is untouched); when
 * none could be reached the exit code is EX_UNAVAILABLE.
 */
import { parseArgs } from "node:util";
import {
  type FleetActionReport,
  MAX_SELECTION_IDS,
  QUEUE_ACTIONS,
  type QueueAction,
  type QueueActionResult,
  type QueueSelection,
  type QueueSummary,
} from "../api-types/queue.ts";
import { isQueueId } from "../spool/queue-id.ts";
import { adminCall, adminCallEach, fleetReport, printFleetReport, selectInstances } from "./admin-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { FLEET_REPORT_OPTIONS } from "./fleet-options.ts";
import { loadFleetOrExit } from "./load-config.ts";

export const QUEUE_USAGE = [
  "mailfleet queue hold|release|delete|requeue|flush (ID... | --all) [--instance NAME] [-c FILE] [--json]",
  "       mailfleet queue summary [--instance NAME] [-c FILE] [--json]",
].join("\n");

const DONE: Record<QueueAction, string> = {
  hold: "put on hold",
  release: "released from hold",
  delete: "deleted",
  requeue: "requeued",
  flush: "flushed",
};

export async function runQueue(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...FLEET_REPORT_OPTIONS, all: { type: "boolean", default: false } },
  });
  const [verb, ...ids] = positionals;
  if (verb === "summary") {
    if (ids.length > 0 || values.all) throw new CliError(`usage: ${QUEUE_USAGE}`, EXIT.usage);
    return runSummary(values);
  }
  if (verb === undefined || !(QUEUE_ACTIONS as readonly string[]).includes(verb)) {
    throw new CliError(`unknown queue action "${verb ?? ""}"\nusage: ${QUEUE_USAGE}`, EXIT.usage);
  }
  return runAction(verb as QueueAction, parseSelection(ids, values.all), values);
}

/** Ids as typed (any case), or --all; exactly one of the two. */
export function parseSelection(ids: string[], all: boolean): QueueSelection {
  if (all && ids.length > 0) throw new CliError("give queue ids or --all, not both", EXIT.usage);
  if (all) return { all: true };
  if (ids.length === 0) throw new CliError(`give queue ids or --all\nusage: ${QUEUE_USAGE}`, EXIT.usage);
  const wanted = [...new Set(ids.map((id) => id.toUpperCase()))];
  const bad = wanted.filter((id) => !isQueueId(id));
  if (bad.length > 0) throw new CliError(`not a queue id: ${bad.join(" ")}`, EXIT.usage);
  if (wanted.length > MAX_SELECTION_IDS) {
    throw new CliError(`at most ${MAX_SELECTION_IDS} ids at once (or --all)`, EXIT.usage);
  }
  return { ids: wanted };
}

interface Options {
  config?: string | undefined;
  instance?: string | undefined;
  json: boolean;
}

async function runAction(action: QueueAction, selection: QueueSelection, options: Options): Promise<number> {
  const instances = selectInstances(loadFleetOrExit(options.config), options.instance);
  const answers = await adminCallEach(instances, (c) =>
    adminCall<QueueActionResult>(c, "POST", `/v1/queue/${action}`, selection),
  );
  const { report: answered, text } = fleetReport(
    answers,
    (r) => `${r.affected} message${r.affected === 1 ? "" : "s"} ${DONE[action]}`,
    "lines",
  );
  const report: FleetActionReport = { ...answered, notFound: [] };
  if ("ids" in selection && report.instances.length > 0) {
    report.notFound = selection.ids.filter((id) => report.instances.every((r) => r.missing.includes(id)));
  }
  console.log(options.json ? JSON.stringify(report, null, 2) : text);
  if (report.instances.length === 0) return EXIT.unavailable;
  if (report.notFound.length > 0) {
    const where = report.unreachable.length > 0 ? "in any running instance" : "in any instance";
    console.error(`mailfleet: not found ${where}: ${report.notFound.join(" ")}`);
    return EXIT.noInput;
  }
  return EXIT.ok;
}

async function runSummary(options: Options): Promise<number> {
  const instances = selectInstances(loadFleetOrExit(options.config), options.instance);
  const answers = await adminCallEach(instances, (c) =>
    adminCall<QueueSummary>(c, "GET", "/v1/queue/summary"),
  );
  return printFleetReport(answers, formatSummary, options.json);
}

/** qshape's layout: a header of bucket bounds (minutes), the TOTAL row, then one row per domain. */
export function formatSummary(summary: QueueSummary): string {
  const rows: string[][] = [
    ["", "T", ...summary.bucketLabels],
    ["TOTAL", String(summary.totals.total), ...summary.totals.counts.map(String)],
    ...summary.rows.map((r) => [r.domain, String(r.total), ...r.counts.map(String)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  return rows.map((row) => row.map((cell, i) => cell.padStart(widths[i]!)).join(" ")).join("\n");
}
