import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import type { TransportConfig } from "../config/types.ts";
import type { DeliveryJob, OpenResult, Site, SiteConnector } from "../delivery/types.ts";
import type { RecipientOutcome } from "../message/types.ts";
import { SiteQueue } from "./site-queue.ts";

const logger = pino({ level: "silent" });

function site(concurrency: number): Site {
  const transport = { name: "mx", concurrency, idleTimeoutMs: 50 } as TransportConfig;
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

/** A connector whose sessions take `delayMs` per message and count what they carried. */
function scriptedConnector(opts: { fail?: boolean; delayMs?: number }) {
  const stats = { opened: 0, open: 0, maxOpen: 0, delivered: [] as string[] };
  const connector: SiteConnector = {
    async open(): Promise<OpenResult> {
      stats.opened++;
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
    results.every((r) => r[0]?.kind === "delivered"),
    true,
  );
  assert.equal(stats.delivered.length, 30);
  assert.equal(stats.maxOpen <= 3, true, `max open ${stats.maxOpen}`);
  assert.equal(stats.opened <= 3, true, `opened ${stats.opened} connections for 30 messages`);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(stats.open, 0, "idle connections close after idleTimeout");
  assert.equal(q.isIdle, true);
});

test("a dead site fails its jobs fast, without reconnecting for each one", async () => {
  const { connector, stats } = scriptedConnector({ fail: true });
  const q = new SiteQueue({ site: site(2), connector, logger, clock: Date, deadForMs: 60_000 });
  const first = await Promise.all([q.deliver(job("a")), q.deliver(job("b"))]);
  assert.equal(
    first.flat().every((o) => o.kind === "deferred"),
    true,
  );
  const later = await q.deliver(job("c"));
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
  const results = (await Promise.all(pending)).flat();
  assert.equal(results.filter((o) => o.kind === "deferred").length >= 1, true);
});
