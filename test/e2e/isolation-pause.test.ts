/**
 * Scenario: automatic isolation with `action: pause`. Tenants "bad" and "shop" share one pool;
 * thresholds are a complaint rate above 10% with at least 10 messages. Two complaints on bad's
 * 10 messages (20%) pause it: its next messages stay queued, deferred with "tenant bad is paused
 * by automatic isolation", and never reach the sink, while shop's go out as before. After
 * `mailfleet tenant release bad` the paused messages are delivered on their next retry.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { IsolationView } from "../../src/reputation/isolation-types.ts";
import { adminGet } from "../support/admin-get.ts";
import { eventually, startWorld, type World } from "../support/e2e-world.ts";
import { runCli } from "../support/mailfleet-process.ts";
import { type Sink, type SinkMessage, startSink } from "../support/smtp-sink.ts";
import {
  tenantBatch as batch,
  DEST_ZONE,
  FEEDBACK_CONFIG,
  injectTenantMail as inject,
  type TenantMail as Mail,
  sendComplaint,
  subjectOf,
} from "../support/tenant-mail.ts";

describe("automatic isolation with action pause", () => {
  let sink: Sink;
  let world: World;

  before(async () => {
    sink = await startSink();
    const mxPort = sink.port;
    world = await startWorld({
      mxPort,
      zone: DEST_ZONE,
      config: {
        sources: { s2: { address: "127.0.0.2" } },
        pools: { shared: { sources: ["s2"] } },
        transports: { mx: { pool: "shared" } },
        feedback: FEEDBACK_CONFIG,
        reputation: {
          isolation: { window: "24h", min_messages: 10, complaint_rate: "10%", action: "pause" },
        },
      },
    });
  });

  after(async () => {
    await world?.close();
    await sink?.destroy();
  });

  async function atSink(mails: Mail[]): Promise<Map<string, SinkMessage>> {
    const wanted = new Set(mails.map((m) => m.subject));
    const found = new Map<string, SinkMessage>();
    for (const m of await sink.messages()) if (wanted.has(subjectOf(m))) found.set(subjectOf(m), m);
    return found;
  }

  const arrived = (mails: Mail[]) =>
    eventually(`${mails.length} messages at the sink`, async () => {
      const found = await atSink(mails);
      return found.size === mails.length ? found : undefined;
    });

  const isolation = () => adminGet<IsolationView>(join(world.dir, "spool"), "/v1/isolation");
  const paused = [...batch("bad", 11, 3, "paused")];

  it("pauses the tenant once its complaint rate passes the threshold", { timeout: 60_000 }, async () => {
    const first = [...batch("bad", 1, 10, "one"), ...batch("shop", 1, 4, "one")];
    await inject(world.smtpPort, first);
    const sent = await arrived(first);
    for (const m of first.filter((x) => x.tenant === "bad").slice(0, 2)) {
      await sendComplaint(world.smtpPort, sent.get(m.subject)!, m.to, "bad");
    }
    const view = await eventually("bad paused", async () => {
      const v = await isolation();
      return v.isolated.length > 0 ? v : undefined;
    });
    assert.deepEqual(
      view.isolated.map((r) => [r.tenant, r.action]),
      [["bad", "pause"]],
    );
    await world.mailfleet.waitForLog(
      /- isolated tenant=bad reason="complaint rate 20% > 10% over 24h \(n=10\)" action=pause/,
    );
  });

  it("holds the paused tenant's new mail in the queue while the other tenant's goes out", {
    timeout: 60_000,
  }, async () => {
    const shop = batch("shop", 5, 3, "during");
    await inject(world.smtpPort, [...paused, ...shop]);
    await arrived(shop);
    const queue = await eventually("bad's three deferred as paused", async () => {
      const listing = await world.mailq();
      const reasons = listing.messages.flatMap((m) => m.recipients.map((r) => r.lastReason ?? ""));
      const pausedOnes = reasons.filter((r) => /tenant bad is paused by automatic isolation/.test(r));
      return pausedOnes.length === 3 ? listing : undefined;
    });
    assert.equal(queue.total, 3);
    assert.match(queue.messages[0]?.recipients[0]?.lastReason ?? "", /^451 4\.7\.1 /);
    // Retries come every second (retry_schedule 1s); none of them reaches the sink.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await atSink(paused)).size, 0);
  });

  it("delivers the paused mail after mailfleet tenant release", { timeout: 60_000 }, async () => {
    const released = await runCli(["tenant", "release", "bad", "-c", world.configPath]);
    assert.equal(released.code, 0, released.stderr);
    assert.match(released.stdout, /tenant bad released from isolation/);
    const found = await arrived(paused);
    for (const m of found.values()) assert.equal(m.clientAddr, "127.0.0.2");
    await eventually("an empty queue", async () => ((await world.mailq()).total === 0 ? true : undefined));
  });
});
