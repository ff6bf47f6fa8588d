import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import pino from "pino";
import type { ReputationCounts } from "../api-types/feedback.ts";
import { parseConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { createSourceSelector } from "../delivery/pool.ts";
import type { DestinationResolver } from "../delivery/types.ts";
import { routeRound } from "../scheduler/round-routing.ts";
import type { QueuedMessage } from "../spool/types.ts";
import { createTenantIsolation } from "./isolation.ts";
import { openIsolationStore } from "./isolation-store.ts";
import type { IsolationEvent } from "./isolation-types.ts";

const logger = pino({ level: "silent" });

function config(action = "quarantine"): Config {
  const result = parseConfig(
    [
      "sources: { s2: { address: 127.0.0.2 }, s3: { address: 127.0.0.3 }, q4: { address: 127.0.0.4 } }",
      "pools: { shared: { sources: [s2, s3] }, quarantine: { sources: [q4] } }",
      "transports: { mx: { pool: shared } }",
      "reputation:",
      `  isolation: { min_messages: 100, complaint_rate: 1%, action: ${action}, quarantine_pool: quarantine }`,
    ].join("\n"),
    "mailfleet.yaml",
    "/srv/mf",
    { defaultHostname: "mx.example" },
  );
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.config;
}

function counts(delivered: number, complaints: number): ReputationCounts {
  return { delivered, deferred: 0, bounced: 0, bouncedByClass: {}, complaints };
}

describe("tenant isolation", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function setup(action = "quarantine") {
    const dir = await mkdtemp(join(tmpdir(), "mailfleet-isolation-"));
    dirs.push(dir);
    const table = new Map<string, ReputationCounts>();
    const events: IsolationEvent[] = [];
    const cfg = config(action);
    const isolation = createTenantIsolation({
      instance: "main",
      config: () => cfg,
      store: await openIsolationStore(dir),
      counts: (t) => {
        const c = table.get(t);
        return c ? { "1h": c, "24h": c, "7d": c } : null;
      },
      tenants: () => [...table.keys()],
      now: () => 1_000,
      onEvent: (e) => events.push(e),
      logger,
      checkDelayMs: 5,
    });
    return { dir, cfg, table, events, isolation };
  }

  test("isolates past threshold and volume, once, durably; release brings it back", async () => {
    const { dir, cfg, table, events, isolation } = await setup();
    table.set("bad", counts(99, 10));
    table.set("good", counts(500, 1));
    assert.deepEqual(await isolation.checkNow(), []);
    table.set("bad", counts(125, 4));
    const isolated = await isolation.checkNow();
    assert.deepEqual(
      isolated.map((r) => [r.tenant, r.reason]),
      [["bad", "complaint rate 3.2% > 1% over 24h (n=125)"]],
    );
    assert.deepEqual(await isolation.checkNow(), [], "not isolated twice");
    assert.deepEqual(isolation.routing("bad"), { action: "quarantine", pool: "quarantine" });
    assert.equal(isolation.routing("good"), null);
    assert.equal(isolation.routing(null), null);
    assert.equal(events[0]?.kind, "isolated");

    // A new process reads it back.
    const reopened = createTenantIsolation({
      instance: "main",
      config: () => cfg,
      store: await openIsolationStore(dir),
      counts: () => null,
      tenants: () => [],
      now: () => 2_000,
      onEvent: () => {},
      logger,
    });
    assert.deepEqual(reopened.routing("bad"), { action: "quarantine", pool: "quarantine" });
    reopened.close();

    assert.equal(await isolation.release("bad"), true);
    assert.equal(isolation.routing("bad"), null);
    assert.equal(events.at(-1)?.kind, "released");
    // The counts from before the release do not isolate it again; new complaints do.
    assert.deepEqual(await isolation.checkNow(), []);
    table.set("bad", counts(250, 4));
    assert.deepEqual(await isolation.checkNow(), [], "125 new messages, no new complaint");
    table.set("bad", counts(250, 6));
    const again = await isolation.checkNow();
    assert.equal(again[0]?.reason, "complaint rate 1.6% > 1% over 24h (n=125)", "judged on what came after");
    isolation.close();
  });

  test("noteEvent checks the tenant soon after its counters change", async () => {
    const { table, isolation } = await setup("pause");
    table.set("bad", counts(200, 20));
    isolation.noteEvent("bad");
    for (let i = 0; i < 500 && !isolation.routing("bad"); i++) await new Promise((r) => setTimeout(r, 10));
    const routing = isolation.routing("bad");
    assert.equal(routing?.action, "pause");
    assert.match(routing?.action === "pause" ? routing.reason : "", /tenant bad is paused .*release bad/);
    isolation.close();
  });

  test("routing: a quarantined tenant leaves from the quarantine pool only; a paused one is deferred", async () => {
    const cfg = config();
    const resolver = {} as DestinationResolver;
    const message = {
      id: "Q1",
      sender: "a@client.test",
      tenant: "bad",
      recipients: [{ address: "x@dest.test", state: "pending" }],
    } as unknown as QueuedMessage;
    const quarantine = await routeRound({
      config: cfg,
      resolver,
      logger,
      message,
      pending: [0],
      isolation: (t) => (t === "bad" ? { action: "quarantine", pool: "quarantine" } : null),
    });
    const group = [...quarantine.groups.values()][0]!;
    assert.equal(group.transport.pool, "quarantine");
    assert.equal(group.transport.bindAddress, null);
    assert.notEqual(group.transport.name, "mx", "its own site queues");
    const sources = createSourceSelector({ config: () => cfg, logger });
    for (let i = 0; i < 4; i++) assert.equal(sources.pick(group.transport, "site")?.address, "127.0.0.4");
    for (let i = 0; i < 4; i++)
      assert.notEqual(sources.pick(cfg.transports.mx!, "site")?.address, "127.0.0.4");

    const other = await routeRound({
      config: cfg,
      resolver,
      logger,
      message: { ...message, tenant: "good" } as QueuedMessage,
      pending: [0],
      isolation: (t) => (t === "bad" ? { action: "quarantine", pool: "quarantine" } : null),
    });
    assert.equal([...other.groups.values()][0]?.transport.pool, "shared");

    const paused = await routeRound({
      config: cfg,
      resolver,
      logger,
      message,
      pending: [0],
      isolation: () => ({ action: "pause", reason: "tenant bad is paused" }),
    });
    assert.equal(paused.groups.size, 0);
    assert.equal(paused.outcomes[0]?.kind, "deferred");
    assert.equal(paused.outcomes[0]?.reply.text, "tenant bad is paused");
  });
});
