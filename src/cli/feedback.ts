/**
 * `mailfleet feedback import FILE... [--instance NAME]`: hands DSN and ARF report files (one
 * RFC 5322 message per file, e.g. exported from the feedback mailbox) to a running instance,
 * which ingests them like reports received by mail: attribution, counters, suppression.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { FeedbackImportRequest, IngestSummary } from "../api-types/feedback.ts";
import { adminRequest } from "./admin-client.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import { FLEET_REPORT_OPTIONS } from "./fleet-options.ts";
import { loadInstanceOrExit } from "./load-config.ts";

export const FEEDBACK_USAGE = "mailfleet feedback import FILE... [--instance NAME] [-c FILE] [--json]";

export async function runFeedback(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...FLEET_REPORT_OPTIONS },
  });
  const [verb, ...files] = positionals;
  if (verb !== "import" || files.length === 0) throw new CliError(`usage: ${FEEDBACK_USAGE}`, EXIT.usage);
  const config = loadInstanceOrExit(values.config, values.instance);
  const results: { file: string; summary: IngestSummary }[] = [];
  let unknown = 0;
  for (const file of files) {
    let message: string;
    try {
      message = await readFile(file, "utf8");
    } catch (err) {
      throw new CliError(`${file}: ${(err as Error).message}`, EXIT.noInput);
    }
    const body: FeedbackImportRequest = { name: file, message };
    const summary = await adminRequest<IngestSummary>(config, "POST", "/v1/feedback/import", body);
    results.push({ file, summary });
    if (summary.kind === "unknown") unknown++;
  }
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else {
    for (const { file, summary } of results) {
      const events = summary.events
        .map(
          (e) =>
            `${e.kind} ${e.recipient ?? "?"} tenant=${e.tenant ?? "-"} ip=${e.sourceIp ?? "-"}${e.suppressed ? " suppressed" : ""}`,
        )
        .join("; ");
      console.log(
        `${file}: ${summary.kind}${events ? `: ${events}` : ""}${summary.note ? ` (${summary.note})` : ""}`,
      );
    }
  }
  // Reports that are neither DSN nor ARF were recorded as such; only all of them failing is an error.
  return unknown === results.length ? EXIT.dataError : EXIT.ok;
}
