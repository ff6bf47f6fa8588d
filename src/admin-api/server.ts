/**
 * Admin HTTP API on loopback, the CLI's only way into a running instance. Every request needs
 * the bearer token from <spool>/admin.json (mode 0600), so only users who can read the spool
 * can drive the instance. One file per endpoint, registered here in a table:
 *
 *   GET  /v1/queue                 queue-endpoint.ts          QueueListing
 *   GET  /v1/queue/summary         queue-summary-endpoint.ts  QueueSummary
 *   POST /v1/queue/ACTION          queue-action-endpoint.ts   QueueSelection -> QueueActionResult
 *        (ACTION: hold, release, delete, requeue, flush)
 *   GET  /v1/sources               sources-endpoint.ts        SourcesListing
 *   GET  /v1/reputation            reputation-endpoint.ts     ReputationReport
 *   POST /v1/feedback/import       reputation-import-endpoint.ts  FeedbackImportRequest -> IngestSummary
 *   GET  /v1/suppression           suppression-endpoint.ts    SuppressionListing
 *   POST /v1/suppression/ACTION    suppression-endpoint.ts    SuppressionChange -> SuppressionChangeResult
 *        (ACTION: add, remove)
 *   GET  /v1/warmup                warmup-endpoint.ts         WarmupReport
 *   GET  /v1/backoff               backoff-endpoint.ts        BackoffListing
 *   GET  /v1/isolation             isolation-endpoint.ts      IsolationView
 *   POST /v1/isolation/release     isolation-endpoint.ts      {tenant} -> IsolationReleaseResult
 *   POST /v1/test/clock            test-clock-endpoint.ts     {advanceMs} -> {now}  (test clock only)
 *
 * Errors are JSON `{ error }` with a 4xx/5xx status.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFile, unlink, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Logger } from "pino";
import type { IngestSummary, ReputationReport } from "../api-types/feedback.ts";
import {
  type AdminEndpoint,
  QUEUE_ACTIONS,
  type QueueAction,
  type QueueActionResult,
  type QueueListing,
  type QueueSelection,
  type QueueSummary,
} from "../api-types/queue.ts";
import type { SourcesListing } from "../api-types/sources.ts";
import type { HostPort } from "../config/types.ts";
import type { SuppressionList } from "../feedback/types.ts";
import type { BackoffListing } from "../reputation/backoff.ts";
import type { TenantIsolation } from "../reputation/isolation.ts";
import type { WarmupReport } from "../reputation/warmup.ts";
import { backoffEndpoint } from "./backoff-endpoint.ts";
import { type Endpoint, HttpError, sendJson } from "./http.ts";
import { isolationReleaseEndpoint, isolationViewEndpoint } from "./isolation-endpoint.ts";
import { queueActionEndpoint } from "./queue-action-endpoint.ts";
import { queueEndpoint } from "./queue-endpoint.ts";
import { queueSummaryEndpoint } from "./queue-summary-endpoint.ts";
import { type ReputationFilter, reputationEndpoint } from "./reputation-endpoint.ts";
import { reputationImportEndpoint } from "./reputation-import-endpoint.ts";
import { sourcesEndpoint } from "./sources-endpoint.ts";
import { suppressionChangeEndpoint, suppressionListEndpoint } from "./suppression-endpoint.ts";
import { testClockEndpoint } from "./test-clock-endpoint.ts";
import { warmupEndpoint } from "./warmup-endpoint.ts";

export interface AdminHandlers {
  /** The queue, oldest first; only the `limit` oldest messages when given. */
  queue(limit: number | null): QueueListing;
  /** Pending recipients per domain by age (GET /v1/queue/summary). */
  queueSummary(): QueueSummary;
  /** hold, release, delete, requeue or flush the selected messages (POST /v1/queue/ACTION). */
  queueAction(action: QueueAction, selection: QueueSelection): Promise<QueueActionResult>;
  /** Source IPs and their health (GET /v1/sources). */
  sources(): SourcesListing;
  /** Reputation counters (GET /v1/reputation). */
  reputation?(filter: ReputationFilter): ReputationReport;
  /** Ingests one DSN or ARF report (POST /v1/feedback/import). */
  feedbackImport?(raw: Buffer): Promise<IngestSummary>;
  /** The instance's suppression list (GET /v1/suppression, POST /v1/suppression/add|remove). */
  suppression?: { instance: string; list: SuppressionList };
  /** Source IP x site pairs under adaptive backoff (GET /v1/backoff). */
  backoff?(): BackoffListing;
  /** IP warm-up state per source x provider (GET /v1/warmup). */
  warmup?(): WarmupReport;
  /** Automatic isolation of tenants (GET /v1/isolation, POST /v1/isolation/release). */
  isolation?: TenantIsolation;
  /** Moves a test clock forward (POST /v1/test/clock); absent in production. */
  advanceClock?(ms: number): number;
}

export interface AdminServer {
  endpoint: AdminEndpoint;
  close(): Promise<void>;
}

export function adminRoutes(handlers: AdminHandlers): Record<string, Endpoint> {
  const routes: Record<string, Endpoint> = {
    "GET /v1/queue": queueEndpoint((limit) => handlers.queue(limit)),
    "GET /v1/queue/summary": queueSummaryEndpoint(() => handlers.queueSummary()),
    "GET /v1/sources": sourcesEndpoint(() => handlers.sources()),
  };
  const { reputation, feedbackImport } = handlers;
  if (reputation) routes["GET /v1/reputation"] = reputationEndpoint((f) => reputation(f));
  if (feedbackImport)
    routes["POST /v1/feedback/import"] = reputationImportEndpoint((raw) => feedbackImport(raw));
  if (handlers.suppression) {
    const { instance, list } = handlers.suppression;
    routes["GET /v1/suppression"] = suppressionListEndpoint(instance, list);
    routes["POST /v1/suppression/add"] = suppressionChangeEndpoint(instance, list, "add");
    routes["POST /v1/suppression/remove"] = suppressionChangeEndpoint(instance, list, "remove");
  }
  const { backoff } = handlers;
  if (backoff) routes["GET /v1/backoff"] = backoffEndpoint(() => backoff());
  const { warmup } = handlers;
  if (warmup) routes["GET /v1/warmup"] = warmupEndpoint(() => warmup());
  if (handlers.isolation) {
    const instance = handlers.isolation.view().instance;
    routes["GET /v1/isolation"] = isolationViewEndpoint(handlers.isolation);
    routes["POST /v1/isolation/release"] = isolationReleaseEndpoint(instance, handlers.isolation);
  }
  const { advanceClock } = handlers;
  if (advanceClock) routes["POST /v1/test/clock"] = testClockEndpoint((ms) => advanceClock(ms));
  for (const action of QUEUE_ACTIONS) {
    routes[`POST /v1/queue/${action}`] = queueActionEndpoint(action, (a, s) => handlers.queueAction(a, s));
  }
  return routes;
}

export async function startAdminServer(deps: {
  listen: HostPort;
  spoolDir: string;
  handlers: AdminHandlers;
  logger: Logger;
}): Promise<AdminServer> {
  const token = randomBytes(24).toString("hex");
  const routes = adminRoutes(deps.handlers);
  const server: Server = createServer((req, res) => {
    if (!authorized(req, token)) return sendJson(res, 401, { error: "missing or wrong admin token" });
    const route = routes[`${req.method} ${(req.url ?? "").split("?")[0]}`];
    if (!route) return sendJson(res, 404, { error: "no such endpoint" });
    Promise.resolve()
      .then(() => route(req))
      .then(
        (response) => sendJson(res, response.status, response.body),
        (err: unknown) => {
          if (err instanceof HttpError) {
            // Unread body bytes (a 413) must not be taken for the next request on this connection.
            if (!req.complete) res.setHeader("connection", "close");
            return sendJson(res, err.status, { error: err.message });
          }
          deps.logger.error({ err, url: req.url }, "admin API handler failed");
          sendJson(res, 500, { error: "internal error" });
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(deps.listen.port, deps.listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const endpoint: AdminEndpoint = { url: `http://${host}:${address.port}`, token, pid: process.pid };
  const file = join(deps.spoolDir, "admin.json");
  await writeFile(file, JSON.stringify(endpoint), { mode: 0o600 });
  return {
    endpoint,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // A stopped instance leaves no endpoint behind (a killed one does: the CLI then finds
      // nothing listening there). Only our own file: a new process may have replaced it.
      const current = await readFile(file, "utf8").catch(() => "");
      if (current.includes(token)) await unlink(file).catch(() => {});
    },
  };
}

function authorized(req: IncomingMessage, token: string): boolean {
  const given = Buffer.from((req.headers.authorization ?? "").replace(/^Bearer /, ""));
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
