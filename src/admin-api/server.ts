/**
 * Admin HTTP API on loopback, the CLI's only way into a running instance. Every request needs
 * the bearer token from <spool>/admin.json (mode 0600), so only users who can read the spool
 * can drive the instance. One handler per route, registered in a table.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Logger } from "pino";
import type { AdminEndpoint, QueueListing } from "../api-types/queue.ts";
import type { SourcesListing } from "../api-types/sources.ts";
import type { HostPort } from "../config/types.ts";

export interface AdminHandlers {
  queue(): QueueListing;
  flush(): void;
  /** Source IPs and their health (GET /v1/sources). */
  sources(): SourcesListing;
}

export interface AdminServer {
  endpoint: AdminEndpoint;
  close(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse) => void;

export async function startAdminServer(deps: {
  listen: HostPort;
  spoolDir: string;
  handlers: AdminHandlers;
  logger: Logger;
}): Promise<AdminServer> {
  const token = randomBytes(24).toString("hex");
  const routes: Record<string, Route> = {
    "GET /v1/queue": (_req, res) => sendJson(res, 200, deps.handlers.queue()),
    "GET /v1/sources": (_req, res) => sendJson(res, 200, deps.handlers.sources()),
    "POST /v1/queue/flush": (_req, res) => {
      deps.handlers.flush();
      sendJson(res, 200, { ok: true });
    },
  };
  const server: Server = createServer((req, res) => {
    if (!authorized(req, token)) return sendJson(res, 401, { error: "missing or wrong admin token" });
    const route = routes[`${req.method} ${(req.url ?? "").split("?")[0]}`];
    if (!route) return sendJson(res, 404, { error: "no such endpoint" });
    try {
      route(req, res);
    } catch (err) {
      deps.logger.error({ err }, "admin API handler failed");
      sendJson(res, 500, { error: "internal error" });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(deps.listen.port, deps.listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const endpoint: AdminEndpoint = { url: `http://${host}:${address.port}`, token, pid: process.pid };
  await writeFile(join(deps.spoolDir, "admin.json"), JSON.stringify(endpoint), { mode: 0o600 });
  return {
    endpoint,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function authorized(req: IncomingMessage, token: string): boolean {
  const given = Buffer.from((req.headers.authorization ?? "").replace(/^Bearer /, ""));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
