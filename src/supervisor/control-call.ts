/**
 * One HTTP request to the supervisor's control socket (<run_dir>/control.sock). Used by the CLI
 * and by a starting supervisor that checks whether another one already owns the run directory.
 * Transport failures come back as data: "absent" when nobody listens (no socket file, or a stale
 * one), "error" for anything else, so callers decide what each means for them.
 */
import { request } from "node:http";

export type ControlCallResult =
  | { kind: "answer"; status: number; body: unknown }
  /** No socket file, or nobody listening on it (ENOENT, ECONNREFUSED). */
  | { kind: "absent"; code: string }
  | { kind: "error"; message: string };

export function controlCall(
  socketPath: string,
  method: "GET" | "POST",
  path: string,
  timeoutMs: number,
): Promise<ControlCallResult> {
  return new Promise((resolve) => {
    const req = request({ socketPath, method, path, headers: { accept: "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", (err) => resolve({ kind: "error", message: err.message }));
      res.on("end", () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown;
        try {
          body = text === "" ? null : JSON.parse(text);
        } catch {
          body = { error: `not JSON: ${text.slice(0, 200)}` };
        }
        resolve({ kind: "answer", status: res.statusCode ?? 0, body });
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") resolve({ kind: "absent", code: err.code });
      else resolve({ kind: "error", message: err.message });
    });
    req.end();
  });
}

/** The `error` string of an error body, or a generic description. */
export function errorText(body: unknown, status: number): string {
  if (typeof body === "object" && body !== null && "error" in body && typeof body.error === "string") {
    return body.error;
  }
  return `HTTP ${status}`;
}
