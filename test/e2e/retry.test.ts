/**
 * Scenario: temporary failures. A 4xx at RCPT defers the recipient (visible in mailq with the
 * reason), and the retry schedule delivers it once the receiving side is fixed. A message that
 * keeps failing past max_queue_lifetime expires, and its sender gets a DSN with status 4.4.7.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { eventually, simpleMessage, startWorld, type World } from "../support/e2e-world.ts";
import { freePort } from "../support/ports.ts";
import { type Sink, startSink } from "../support/smtp-sink.ts";

describe("retry", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  async function sink(host: string, port: number, flags: string[] = []): Promise<Sink> {
    const started = await startSink({ host, port, flags });
    cleanups.push(() => started.destroy());
    return started;
  }

  async function world(mxPort: number, config: Record<string, unknown> = {}): Promise<World> {
    const started = await startWorld({
      mxPort,
      zone: {
        "retry.test": { mx: [{ preference: 10, exchange: "mx.retry.test" }] },
        "mx.retry.test": { a: ["127.0.0.1"] },
        "sender.test": { mx: [{ preference: 10, exchange: "mx.sender.test" }] },
        "mx.sender.test": { a: ["127.0.0.2"] },
      },
      config,
    });
    cleanups.push(() => started.close());
    return started;
  }

  it("defers on 4xx, shows the reason in mailq, and delivers on retry", { timeout: 60_000 }, async () => {
    const mxPort = await freePort();
    const grumpy = await sink("127.0.0.1", mxPort, ["-r", "RCPT", "-b", "450 4.2.0 Mailbox busy, try later"]);
    const w = await world(mxPort);
    const sent = await w.send(
      "alice@sender.test",
      ["bob@retry.test"],
      simpleMessage({ from: "alice@sender.test", to: "bob@retry.test", subject: "retry me" }),
    );
    assert.equal(sent.code, 0, sent.stderr);
    const id = sent.queueId!;
    const deferred = await w.mailfleet.waitForLog(/\bdeferred\b.*to=<bob@retry\.test>/, 20_000);
    assert.ok(deferred.includes(id), deferred);
    assert.match(deferred, /450/);

    const queued = await eventually("mailq listing the deferral", async () => {
      const listing = await w.mailq();
      const message = listing.messages.find((m) => m.id === id);
      const recipient = message?.recipients.find((r) => r.address === "bob@retry.test");
      return recipient?.lastReason ? { message, recipient } : undefined;
    });
    assert.equal(queued.recipient.state, "pending");
    assert.match(queued.recipient.lastReason!, /450.*Mailbox busy/);
    assert.ok(queued.message!.attempts >= 1);
    assert.equal(grumpy.port, mxPort);

    // Replace the refusing MTA by an accepting one on the same address and port.
    await grumpy.stop();
    const happy = await sink("127.0.0.1", mxPort);
    const delivered = await w.mailfleet.waitForLog(/\bdelivered\b.*to=<bob@retry\.test>/, 30_000);
    assert.ok(delivered.includes(id), delivered);
    const copies = (await happy.messages()).filter((m) => m.content.includes("Subject: retry me"));
    assert.equal(copies.length, 1);
    await eventually("an empty queue", async () => ((await w.mailq()).total === 0 ? true : undefined));
  });

  it("expires after max_queue_lifetime and sends a 4.4.7 DSN", { timeout: 60_000 }, async () => {
    const mxPort = await freePort();
    await sink("127.0.0.1", mxPort, ["-r", "RCPT"]);
    const senderMx = await sink("127.0.0.2", mxPort);
    const w = await world(mxPort, { transports: { mx: { max_queue_lifetime: "3s" } } });
    const sent = await w.send(
      "alice@sender.test",
      ["carol@retry.test"],
      simpleMessage({ from: "alice@sender.test", to: "carol@retry.test", subject: "doomed" }),
    );
    assert.equal(sent.code, 0, sent.stderr);
    const expired = await w.mailfleet.waitForLog(/\bexpired\b.*to=<carol@retry\.test>/, 30_000);
    assert.ok(expired.includes(sent.queueId!), expired);

    const dsn = await eventually("the expiry DSN", async () =>
      (await senderMx.messages()).find((m) => m.content.includes("Subject: doomed")),
    );
    assert.ok(dsn.rcptArgs.some((a) => a.startsWith("<alice@sender.test>")));
    assert.match(dsn.content, /^Final-Recipient: rfc822; ?carol@retry\.test$/im);
    assert.match(dsn.content, /^Status: 4\.4\.7$/im);
    assert.match(dsn.content, /^Action: failed$/im);
    await eventually("the expired message leaving the queue", async () => {
      const listing = await w.mailq();
      return listing.messages.some((m) => m.id === sent.queueId) ? undefined : true;
    });
  });
});
