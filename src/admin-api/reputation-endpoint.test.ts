/**
 * The reputation and report-import endpoints over a real loopback socket with stub handlers.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { IngestSummary, ReputationReport } from "../api-types/feedback.ts";
import type { AdminEndpoint } from "../api-types/queue.ts";
import { silentLogger, tempDir } from "../spool/testing.ts";
import type { ReputationFilter } from "./reputation-endpoint.ts";
import { type AdminServer, startAdminServer } from "./server.ts";

describe("admin API: reputation and feedback import", () => {
  const filters: ReputationFilter[] = [];
  const imported: string[] = [];
  let server: AdminServer;
  let endpoint: AdminEndpoint;
  let cleanup: () => Promise<void>;

  before(async () => {
    const tmp = await tempDir("mf-reputation-");
    cleanup = tmp.cleanup;
    server = await startAdminServer({
      listen: { host: "127.0.0.1", port: 0 },
      spoolDir: tmp.dir,
      handlers: {
        queue: () => ({ instance: "main", messages: [] }) as never,
        queueSummary: () => ({}) as never,
        queueAction: async () => ({}) as never,
        sources: () => ({}) as never,
        reputation: (filter): ReputationReport => {
          filters.push(filter);
          return { instance: "main", at: 0, bucketMs: 300_000, rows: [] };
        },
        feedbackImport: async (raw): Promise<IngestSummary> => {
          imported.push(raw.toString("utf8"));
          return { kind: "unknown", events: [], note: "stub" };
        },
      },
      logger: silentLogger,
    });
    endpoint = JSON.parse(await readFile(join(tmp.dir, "admin.json"), "utf8")) as AdminEndpoint;
  });

  after(async () => {
    await server?.close();
    await cleanup?.();
  });

  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${endpoint.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${endpoint.token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it("passes the ip / tenant filter on", async () => {
    const res = await call("GET", "/v1/reputation?ip=192.0.2.1&tenant=shop");
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as ReputationReport).instance, "main");
    assert.deepEqual(filters.at(-1), { ip: "192.0.2.1", tenant: "shop" });
    assert.equal((await call("GET", "/v1/reputation?ip=")).status, 400);
  });

  it("imports a report with CRLF line ends, and refuses a bad body", async () => {
    const res = await call("POST", "/v1/feedback/import", { name: "a.eml", message: "Subject: x\n\nbody\n" });
    assert.equal(res.status, 200);
    assert.equal(imported.at(-1), "Subject: x\r\n\r\nbody\r\n");
    assert.equal((await call("POST", "/v1/feedback/import", { message: 1 })).status, 400);
  });
});
