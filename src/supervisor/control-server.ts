/**
 * The supervisor's control API: HTTP over a Unix socket, protected by file permissions (socket
 * 0600 inside the 0700 run directory) rather than a token. Routes and bodies are those of
 * src/api-types/fleet.ts; one handler per route, dispatched through a table. Handlers throw
 * ControlError for answers other than 200 (unknown instance 404, refused action 409).
 */
import { chmod } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { FleetStatus, InstanceActionResult, ReloadResult } from "../api-types/fleet.ts";

export interface ControlHandlers {
  status(): Promise<FleetStatus>;
  reload(): Promise<ReloadResult>;
  /** Starts the graceful stop of the whole fleet; called after the answer went out. */
  stop(): void;
  startInstance(name: string): Promise<InstanceActionResult>;
  stopInstance(name: string): Promise<InstanceActionResult>;
}

export class ControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface ControlServer {
  socketPath: string;
  close(): Promise<void>;
}

type Handler = (res: ServerResponse, param: string) => Promise<void>;

const INSTANCE_ACTION = /^\/v1\/instances\/([^/]+)\/(start|stop)$/;

export async function startControlServer(deps: {
  socketPath: string;
  handlers: ControlHandlers;
  logger: Logger;
}): Promise<ControlServer> {
  const { handlers } = deps;
  const routes: Record<string, Handler> = {
    "GET /v1/status": async (res) => sendJson(res, 200, await handlers.status()),
    "POST /v1/reload": async (res) => sendJson(res, 200, await handlers.reload()),
    "POST /v1/stop": async (res) => {
      sendJson(res, 200, { ok: true });
      res.once("finish", () => handlers.stop());
    },
    "POST /v1/instances/:name/start": async (res, name) =>
      sendJson(res, 200, await handlers.startInstance(name)),
    "POST /v1/instances/:name/stop": async (res, name) =>
      sendJson(res, 200, await handlers.stopInstance(name)),
  };
  const server: Server = createServer((req, res) => {
    const [key, param] = routeKey(req);
    const route = routes[key];
    // Bodies are never needed; drain them so keep-alive clients are not stuck.
    req.resume();
    if (!route) return sendJson(res, 404, { error: `no such endpoint: ${req.method} ${req.url}` });
    route(res, param).catch((err: unknown) => {
      if (err instanceof ControlError) return sendJson(res, err.status, { error: err.message });
      deps.logger.error({ err }, "control API handler failed");
      sendJson(res, 500, { error: `internal error: ${(err as Error).message}` });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(deps.socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  await chmod(deps.socketPath, 0o600);
  return {
    socketPath: deps.socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        // Closing a Unix socket server removes its socket file.
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function routeKey(req: IncomingMessage): [string, string] {
  const path = (req.url ?? "").split("?")[0] ?? "";
  const action = INSTANCE_ACTION.exec(path);
  if (action) {
    let name = action[1] ?? "";
    try {
      name = decodeURIComponent(name);
    } catch {
      // A malformed escape is just an unknown instance name.
    }
    return [`${req.method} /v1/instances/:name/${action[2]}`, name];
  }
  return [`${req.method} ${path}`, ""];
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
