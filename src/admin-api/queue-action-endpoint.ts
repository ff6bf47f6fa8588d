/**
 * POST /v1/queue/{hold,release,delete,requeue,flush}: one queue action on the messages a
 * QueueSelection names. The body is validated strictly (exactly one of `ids` or `all: true`, ids
 * in queue-id form, at most MAX_SELECTION_IDS) and limited in size; bad input is a 400 (413 when
 * too large) with `{ error }`, and the action is not run.
 */
import { z } from "zod";
import {
  MAX_SELECTION_IDS,
  type QueueAction,
  type QueueActionResult,
  type QueueSelection,
} from "../api-types/queue.ts";
import { isQueueId } from "../spool/queue-id.ts";
import { type Endpoint, HttpError, ok, readJsonBody } from "./http.ts";

/** Room for MAX_SELECTION_IDS quoted ids with separators, and some whitespace. */
export const MAX_ACTION_BODY_BYTES = 64 * 1024 + MAX_SELECTION_IDS * 24;

const selectionSchema = z.union([
  z.strictObject({
    ids: z
      .array(z.string().refine(isQueueId, { message: "not a queue id (20 characters, 0-9 A-Z)" }))
      .min(1, { message: "give at least one id, or all: true" })
      .max(MAX_SELECTION_IDS, { message: `at most ${MAX_SELECTION_IDS} ids per request` }),
  }),
  z.strictObject({ all: z.literal(true) }),
]);

export type SelectionCheck = { ok: true; selection: QueueSelection } | { ok: false; error: string };

/** Validates a request body as a QueueSelection; the error names the offending field. */
export function parseQueueSelection(value: unknown): SelectionCheck {
  const parsed = selectionSchema.safeParse(value);
  if (parsed.success) return { ok: true, selection: parsed.data };
  const keys = typeof value === "object" && value !== null && !Array.isArray(value) ? Object.keys(value) : [];
  const hasIds = keys.includes("ids");
  const hasAll = keys.includes("all");
  if (hasIds && hasAll) return { ok: false, error: "give either ids or all, not both" };
  if (!hasIds && !hasAll)
    return { ok: false, error: 'body must be {"ids": [QUEUE_ID, ...]} or {"all": true}' };
  // A union reports every branch; the issue about a key the body has explains best.
  const issues = parsed.error.issues.flatMap((issue) =>
    issue.code === "invalid_union" ? issue.errors.flat() : [issue],
  );
  const relevant = issues.find((i) => keys.includes(String(i.path[0]))) ?? issues[0];
  const where = relevant !== undefined && relevant.path.length > 0 ? `${relevant.path.join(".")}: ` : "";
  return { ok: false, error: `${where}${relevant?.message ?? "invalid selection"}` };
}

export function queueActionEndpoint(
  action: QueueAction,
  run: (action: QueueAction, selection: QueueSelection) => Promise<QueueActionResult>,
): Endpoint {
  return async (req) => {
    const checked = parseQueueSelection(await readJsonBody(req, MAX_ACTION_BODY_BYTES));
    if (!checked.ok) throw new HttpError(400, checked.error);
    return ok(await run(action, checked.selection));
  };
}
