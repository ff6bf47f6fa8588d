/**
 * Small HTTP helpers for the admin API endpoints: a response as data, errors that carry their
 * status, and a JSON body reader with a size limit (an endpoint never buffers more than it allows).
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** What an endpoint answers; the server writes it as JSON. */
export interface ApiResponse {
  status: number;
  body: unknown;
}

/** Thrown by endpoints for a client error: answered as `status` with `{ error: message }`. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = "HttpError";
  }
}

export type Endpoint = (req: IncomingMessage) => ApiResponse | Promise<ApiResponse>;

export function ok(body: unknown): ApiResponse {
  return { status: 200, body };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Reads and parses a JSON request body of at most `limit` bytes (413 beyond, 400 if not JSON). */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > limit) throw new HttpError(413, `request body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw new HttpError(400, "a JSON request body is required");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "request body is not valid JSON");
  }
}
