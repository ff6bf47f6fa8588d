import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import type { DestinationLimits, TransportConfig } from "../config/types.ts";
import type { DeliveryJob, OpenResult, Site, SiteConnector } from "../delivery/types.ts";
import type { RecipientOutcome } from "../message/types.ts";
import { type QueueResult, SiteQueue, type SourceEvents } from "./site-queue.ts";

const logger = pino({ level: "silent" });

function site(
  concurrency: number,
  limits: Partial<DestinationLimits> = {},
  bindAddress: string | null = null,
): Site {
  const transport = {
    name: "mx",
    concurrency,
    bindAddress,
    limits: { concurrency, rateDelayMs: 0, maxPerHour: 0, ...limits },
    idleTimeoutMs: 50,
  } as TransportConfig;
  return { key: "mx|mx.example", transport, hosts: [], port: 25 };
}

function job(id: string): DeliveryJob {
  return {
    id,
    sender: "s@a.example",
    recipients: [{ index: 0, address: "r@b.example", notify: null, orcpt: null }],
    ret: null,
    envid: null,
    bodyType: "7BIT",
    smtpUtf8: false,
    body: Buffer.from("x"),
  };
}

const relay = { host: "mx.example", ip: "127.0.0.1", port: 25, sourceIp: null };

function outcomes(result: QueueResult): RecipientOutcome[] {
  assert.equal(result.kind, "done");
  return result.outcomes;
}

/** A connector whose sessions take `delayMs` per message and record what they carried, and when. */
function scriptedConnector(opts: { fail?: boolean; bindFail?: boolean; delayMs?: number }) {
  const stats = { opened: 0, open: 0, maxOpen: 0, delivered: [] as string[], startedAt: [] as number[] };
  const connector: SiteConnector = {
    async open(): Promise<OpenResult> {
      stats.opened++;
      if (opts.bindFail) {
        return {
          ok: false,
          permanent: false,
          reply: { code: 451, enhanced: "4.4.0", text: "cannot bind source address 192.0.2.1" },
          scope: "source",
          bindFailed: true,
        };
      }
      if (opts.fail) {
        return {
          ok: false,
          permanent: false,
          reply: { code: 421, enhanced: "4.4.1", text: "down" },
          scope: "destination",
        };
      }
      stats.open++;
      stats.maxOpen = Math.max(stats.maxOpen, stats.open);
      return {
        ok: true,
        session: {
          usable: true,
          async deliver(j): Promise<RecipientOutcome[]> {
            stats.startedAt.push(Date.now());
            await new Promise((r) => setTimeout(r, opts.delayMs ?? 5));
            stats.delivered.push(j.id);
            return [
              {
                kind: "delivered",
                recipientIndex: 0,
                reply: { code: 250, enhanced: "2.0.0", text: "ok" },
                relay,
              },
            ];
          },
          async close() {
            stats.open--;
          },
        },
      };
    },
  };
  return { connector, stats };
}

test("connections are capped at the site's concurrency and reused", async () => {
  const { connector, stats } = scriptedConnector({ delayMs: 5 });
  const q = new SiteQueue({ site: site(3), connector, logger, clock: Date, deadForMs: 1000 });
  const results = await Promise.all(Array.from({ length: 30 }, (_, i) => q.deliver(job(`m${i}`))));
  assert.equal(
    results.every((r) => outcomes(r)[0]?.kind === "delivered"),
    true,
  );
  assert.equal(stats.delivered.length, 30);
  assert.equal(stats.maxOpen, 3, `max open ${stats.maxOpen}`);
  assert.equal(stats.opened <= 3, true, `opened ${stats.opened} connections for 30 messages`);
  // Idle connections close after idleTimeout; polled, since a loaded machine's timers run late.
  for (let i = 0; i < 500 && stats.open > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(stats.open, 0, "idle connections close after idleTimeout");
  assert.equal(q.isIdle, true);
});

test("a dead site fails its jobs fast, without reconnecting for each one", async () => {
  const { connector, stats } = scriptedConnector({ fail: true });
  const q = new SiteQueue({ site: site(2), connector, logger, clock: Date, deadForMs: 60_000 });
  const first = await Promise.all([q.deliver(job("a")), q.deliver(job("b"))]);
  assert.equal(
    first.flatMap(outcomes).every((o) => o.kind === "deferred"),
    true,
  );
  const later = outcomes(await q.deliver(job("c")));
  assert.equal(later[0]?.kind, "deferred");
  assert.equal(later[0]?.kind === "deferred" && later[0].reply.code, 421);
  assert.equal(stats.opened <= 2, true);
});

test("stop fails queued jobs as deferred", async () => {
  const { connector } = scriptedConnector({ delayMs: 50 });
  const q = new SiteQueue({ site: site(1), connector, logger, clock: Date, deadForMs: 1000 });
  const pending = [q.deliver(job("a")), q.deliver(job("b")), q.deliver(job("c"))];
  await new Promise((r) => setTimeout(r, 10));
  q.stop();
  const results = (await Promise.all(pending)).flatMap(outcomes);
  assert.equal(results.filter((o) => o.kind === "deferred").length >= 1, true);
});

test("rate delay spaces the starts of deliveries across all connections", async () => {
  const { connector, stats } = scriptedConnector({ delayMs: 1 });
  const q = new SiteQueue({
    site: site(4, { rateDelayMs: 60 }),
    connector,
    logger,
    clock: Date,
    deadForMs: 1000,
  });
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => q.deliver(job(`r${i}`))));
  assert.equal(results.flatMap(outcomes).filter((o) => o.kind === "delivered").length, 6);
  const starts = [...stats.startedAt].sort((a, b) => a - b);
  const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
  // The queue spaces its own clock readings exactly; the session's reading, a few µs later, may
  // fall on the next whole millisecond, hence 1 ms of slack (a missing gate gives gaps near 0).
  assert.ok(
    gaps.every((g) => g >= 59),
    `gaps ${gaps.join(", ")}`,
  );
  assert.equal(q.isIdle, false, "the queue remembers its rate delay for a while");
});

test("max per hour defers at once past the cap, with a source-scoped 4.7.0", async () => {
  const { connector, stats } = scriptedConnector({ delayMs: 1 });
  let now = 1_000_000;
  const clock = { now: () => now };
  const q = new SiteQueue({
    site: site(2, { maxPerHour: 3 }, "127.0.0.2"),
    connector,
    logger,
    clock,
    deadForMs: 1000,
  });
  const results = (await Promise.all(Array.from({ length: 5 }, (_, i) => q.deliver(job(`h${i}`))))).flatMap(
    outcomes,
  );
  assert.equal(results.filter((o) => o.kind === "delivered").length, 3);
  const deferred = results.filter((o) => o.kind === "deferred");
  assert.equal(deferred.length, 2);
  const first = deferred[0];
  assert.ok(first?.kind === "deferred");
  assert.equal(first.scope, "source");
  assert.deepEqual([first.reply.code, first.reply.enhanced], [451, "4.7.0"]);
  assert.equal(first.reply.text, "hourly limit of 3 messages reached for 127.0.0.2 -> mx|mx.example");
  assert.equal(stats.delivered.length, 3, "a capped job never reaches the destination");
  // The window rolls: an hour after the first deliveries there is room again.
  now += 3_600_001;
  assert.equal(outcomes(await q.deliver(job("later")))[0]?.kind, "delivered");
});

test("a bind failure hands every queued job back as source-unusable, without killing the site", async () => {
  const events: string[] = [];
  const sourceEvents: SourceEvents = {
    bindFailed: (reason) => events.push(`bind: ${reason}`),
    connectFailed: () => events.push("connect"),
    connected: () => events.push("ok"),
  };
  const { connector } = scriptedConnector({ bindFail: true });
  const q = new SiteQueue({
    site: site(1, { maxPerHour: 10 }, "192.0.2.1"),
    connector,
    logger,
    clock: Date,
    deadForMs: 60_000,
    events: sourceEvents,
  });
  const results = await Promise.all([q.deliver(job("a")), q.deliver(job("b"))]);
  assert.deepEqual(
    results.map((r) => r.kind),
    ["source-unusable", "source-unusable"],
  );
  assert.equal(results[0]?.outcomes[0]?.kind, "deferred");
  assert.deepEqual(events, ["bind: cannot bind source address 192.0.2.1"]);
  // Not dead: the next job tries again (and the hourly slots were given back).
  assert.equal((await q.deliver(job("c"))).kind, "source-unusable");
  await new Promise((r) => setImmediate(r));
  assert.equal(q.isIdle, true);
});
