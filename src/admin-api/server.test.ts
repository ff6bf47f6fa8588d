/**
 * The admin API over a real loopback socket with stub handlers: token check, routing, and strict
 * validation of queue-action bodies (nothing runs on bad input).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type {
  AdminEndpoint,
  QueueAction,
  QueueActionResult,
  QueueSelection,
  QueueSummary,
} from "../api-types/queue.ts";
import { silentLogger, tempDir } from "../spool/testing.ts";
import { MAX_ACTION_BODY_BYTES, parseQueueSelection } from "./queue-action-endpoint.ts";
import { type AdminServer, startAdminServer } from "./server.ts";

const ID = "01HZX3K9ZQ0000ABCDEF";

describe("admin API", () => {
  const calls: { action: QueueAction; selection: QueueSelection }[] = [];
  const limits: (number | null)[] = [];
  let server: AdminServer;
  let endpoint: AdminEndpoint;
  let cleanup: () => Promise<void>;
  let dir: string;
  const summary: QueueSummary = {
    instance: "main",
    bucketLabels: ["5", "5+"],
    rows: [{ domain: "example.com", total: 1, counts: [1, 0] }],
    totals: { total: 1, counts: [1, 0] },
  };

  before(async () => {
    const tmp = await tempDir("mf-admin-");
    cleanup = tmp.cleanup;
    dir = tmp.dir;
    server = await startAdminServer({
      listen: { host: "127.0.0.1", port: 0 },
      spoolDir: tmp.dir,
      logger: silentLogger,
      handlers: {
        queue: (limit) => {
          limits.push(limit);
          return { instance: "main", total: 0, messages: [] };
        },
        queueSummary: () => summary,
        sources: () => ({ sources: [] }),
        async queueAction(action, selection): Promise<QueueActionResult> {
          if ("ids" in selection && selection.ids[0] === "ZZZZ0000000000000000") throw new Error("bug");
          calls.push({ action, selection });
          return { instance: "main", action, affected: 1, missing: [] };
        },
      },
    });
    endpoint = JSON.parse(await readFile(join(tmp.dir, "admin.json"), "utf8")) as AdminEndpoint;
    assert.deepEqual(endpoint, server.endpoint);
  });
  after(async () => {
    await cleanup();
  });

  function call(method: string, path: string, body?: string, token = endpoint.token) {
    return fetch(`${endpoint.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(5000),
    }).then(async (res) => ({ status: res.status, json: (await res.json()) as Record<string, unknown> }));
  }

  it("refuses a missing or wrong token, and unknown endpoints", async () => {
    assert.equal((await call("GET", "/v1/queue", undefined, "nope")).status, 401);
    assert.equal((await call("GET", "/v1/nothing")).status, 404);
    assert.equal((await call("GET", "/v1/queue/hold")).status, 404, "actions are POST only");
    assert.equal((await call("POST", "/v1/queue/explode", "{}")).status, 404);
  });

  it("serves the queue listing and the summary", async () => {
    assert.deepEqual((await call("GET", "/v1/queue")).json, { instance: "main", total: 0, messages: [] });
    assert.deepEqual((await call("GET", "/v1/queue/summary")).json, summary);
  });

  it("passes a first-page limit on, and refuses one that is not a number", async () => {
    limits.length = 0;
    assert.equal((await call("GET", "/v1/queue?limit=25")).status, 200);
    assert.equal((await call("GET", "/v1/queue?limit=-1")).status, 400);
    assert.equal((await call("GET", "/v1/queue?limit=ten")).status, 400);
    assert.deepEqual(limits, [25]);
  });

  it("runs each action with a valid selection", async () => {
    calls.length = 0;
    for (const action of ["hold", "release", "delete", "requeue", "flush"] as const) {
      const res = await call("POST", `/v1/queue/${action}`, JSON.stringify({ ids: [ID] }));
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { instance: "main", action, affected: 1, missing: [] });
    }
    const all = await call("POST", "/v1/queue/flush", '{"all": true}');
    assert.equal(all.status, 200);
    assert.deepEqual(calls.at(-1), { action: "flush", selection: { all: true } });
    assert.deepEqual(calls[0], { action: "hold", selection: { ids: [ID] } });
  });

  it("answers 400 with an error for bad bodies, without running the action", async () => {
    calls.length = 0;
    const bad: [string | undefined, RegExp][] = [
      [undefined, /JSON request body is required/],
      ["{not json", /not valid JSON/],
      ["[]", /body must be/],
      ["{}", /body must be/],
      ['{"ids": []}', /at least one id/],
      ['{"ids": "ABC"}', /ids/],
      ['{"ids": ["not-an-id"]}', /ids\.0: not a queue id/],
      ['{"ids": [42]}', /ids\.0/],
      ['{"all": false}', /all/],
      [`{"all": true, "ids": ["${ID}"]}`, /either ids or all/],
      [`{"ids": ["${ID}"], "force": true}`, /force|Unrecognized/i],
    ];
    for (const [body, error] of bad) {
      const res = await call("POST", "/v1/queue/delete", body);
      assert.equal(res.status, 400, `${body} -> ${JSON.stringify(res.json)}`);
      assert.match(String(res.json.error), error, `${body}`);
    }
    const tooMany = JSON.stringify({ ids: Array.from({ length: 10_001 }, () => ID) });
    const res = await call("POST", "/v1/queue/delete", tooMany);
    assert.equal(res.status, 400);
    assert.match(String(res.json.error), /at most 10000 ids/);
    assert.equal(calls.length, 0, "no action ran");
  });

  it("answers 413 for a body over the limit and 500 when a handler fails", async () => {
    const huge = JSON.stringify({ ids: [ID], pad: "x".repeat(MAX_ACTION_BODY_BYTES) });
    const res = await call("POST", "/v1/queue/hold", huge);
    assert.equal(res.status, 413);
    assert.match(String(res.json.error), /over \d+ bytes/);
    const failed = await call("POST", "/v1/queue/hold", JSON.stringify({ ids: ["ZZZZ0000000000000000"] }));
    assert.equal(failed.status, 500);
    assert.deepEqual(failed.json, { error: "internal error" });
  });

  it("removes its admin.json when closed", async () => {
    await server.close();
    await assert.rejects(readFile(join(dir, "admin.json")), { code: "ENOENT" });
  });

  it("parseQueueSelection accepts exactly the two shapes", () => {
    assert.deepEqual(parseQueueSelection({ ids: [ID, ID] }), { ok: true, selection: { ids: [ID, ID] } });
    assert.deepEqual(parseQueueSelection({ all: true }), { ok: true, selection: { all: true } });
    assert.equal(parseQueueSelection(null).ok, false);
    assert.equal(parseQueueSelection({ ids: [ID.toLowerCase()] }).ok, false);
  });
});
