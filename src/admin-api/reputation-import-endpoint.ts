/**
 * POST /v1/feedback/import: one report (FeedbackImportRequest: the raw RFC 5322 text of a DSN or
 * ARF report, e.g. from a mailbox export) is ingested like one received by mail; answers its
 * IngestSummary once the event is durable.
 */
import { z } from "zod";
import type { IngestSummary } from "../api-types/feedback.ts";
import { type Endpoint, HttpError, ok, readJsonBody } from "./http.ts";

/** A report with its returned message; bigger ones are not reports. */
export const MAX_IMPORT_BYTES = 4 * 1024 * 1024;

const requestSchema = z.strictObject({ name: z.string().max(4096), message: z.string().min(1) });

export function reputationImportEndpoint(ingest: (raw: Buffer) => Promise<IngestSummary>): Endpoint {
  return async (req) => {
    const parsed = requestSchema.safeParse(await readJsonBody(req, MAX_IMPORT_BYTES));
    if (!parsed.success) throw new HttpError(400, 'body must be {"name": FILE, "message": RAW_REPORT}');
    const raw = Buffer.from(parsed.data.message.replace(/\r?\n/g, "\r\n"), "utf8");
    return ok(await ingest(raw));
  };
}
